#!/usr/bin/env bash
# Regenerates the TLS fixtures used by the unit tests in src/tls.rs.
# Everything here is test-only key material: never use it anywhere else.
# Usage: bash gen.sh   (needs the openssl command line tool)
set -euo pipefail
cd "$(dirname "$0")"
days=36500

cat > ext.cnf <<'CNF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
CNF

ca() { # name cn
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
        -days "$days" -subj "/CN=$2" -config ext.cnf -extensions ca \
        -keyout "$1.key" -out "$1.pem"
}
leaf() { # name cn extension keyfile
    openssl req -new -key "$4" -subj "/CN=$2" -config ext.cnf -out "$1.csr"
    openssl x509 -req -sha256 -days "$days" -in "$1.csr" -CA ca.pem -CAkey ca.key \
        -set_serial "0x$(openssl rand -hex 8)" -extfile ext.cnf -extensions "$3" -out "$1.pem"
    rm "$1.csr"
}

ca ca "flame-kafka unit-test CA"
ca other-ca "flame-kafka unrelated unit-test CA"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key
leaf server localhost server server.key

# Client identities in the three PEM key encodings rustls accepts.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out client-ec.pkcs8.key
openssl ec -in client-ec.pkcs8.key -out client-ec.sec1.key 2>/dev/null
leaf client-ec flame-client-ec client client-ec.pkcs8.key
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out client-rsa.pkcs8.key
openssl pkey -in client-rsa.pkcs8.key -traditional -out client-rsa.pkcs1.key
leaf client-rsa flame-client-rsa client client-rsa.pkcs8.key

rm -f ext.cnf ca.srl ca.key other-ca.key client-rsa.pkcs8.key
