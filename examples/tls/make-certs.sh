#!/bin/sh
# A private CA and one server certificate for the docker-compose stack (and for trying TLS locally):
#   sh examples/tls/make-certs.sh [DIR]          (default DIR: ./certs; existing files are kept)
# Writes DIR/ca.pem (give it to clients), DIR/server.pem + DIR/server-key.pem (the servers), and
# DIR/client.pem + DIR/client-key.pem (a client certificate, for mTLS). docs/security.md explains each step.
set -eu
DIR="${1:-certs}"
HOSTS="${OTELML_CERT_HOSTS:-DNS:localhost,IP:127.0.0.1,DNS:otel-gateway,DNS:otelml-sidecar-1,DNS:otelml-sidecar-2,DNS:otel-backend}"
mkdir -p "$DIR"
cd "$DIR"
if [ -f ca.pem ] && [ -f server.pem ]; then
  echo "make-certs: $DIR already has ca.pem and server.pem; keeping them"
  exit 0
fi
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
  -subj "/CN=otelml demo CA" -keyout ca-key.pem -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
for who in server client; do
  if [ "$who" = server ]; then usage=serverAuth; san="subjectAltName=$HOSTS"; else usage=clientAuth; san="subjectAltName=DNS:otelml-client"; fi
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=otelml $who" \
    -keyout "$who-key.pem" -out "$who.csr"
  printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=%s\n%s\n' "$usage" "$san" > "$who.ext"
  openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 365 \
    -extfile "$who.ext" -out "$who.pem"
  rm -f "$who.csr" "$who.ext"
done
chmod 644 ca.pem server.pem client.pem server-key.pem client-key.pem  # read by non-root container users
echo "make-certs: wrote $DIR/ca.pem, server.pem, server-key.pem, client.pem, client-key.pem"
