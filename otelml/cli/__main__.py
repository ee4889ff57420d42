from otelml.cli import main

raise SystemExit(main())
