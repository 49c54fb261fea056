#!/usr/bin/env bash
# gnutls-cli, GnuTLS's own client, unmodified, as an HTTPS client for the
# socket source's tests: it writes one GET for URL's path read from its
# stdin, which stays open until the server has answered and closed the
# connection, and the response's status is printed.
#
#   gnutls_get.sh CA-CERT https://127.0.0.1:PORT/PATH
set -euo pipefail

ca=$1 url=$2
hostport=${url#https://}
hostport=${hostport%%/*}
path=/${url#https://*/}
coproc cli { exec gnutls-cli --x509cafile="$ca" -p "${hostport##*:}" "${hostport%:*}" 2>/dev/null; }
pid=$cli_PID in=${cli[1]} out=${cli[0]}
printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$hostport" >&"$in"
sed -n 's|^HTTP/1\.1 \([0-9]*\).*|\1|p' <&"$out"
wait "$pid"
