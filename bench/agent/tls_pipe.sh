#!/bin/sh
# The peer of ReadExtents over mTLS: the same image sent through one mutual
# TLS connection over loopback by socat (OpenSSL; no gRPC, framing or
# checksums): what TLS alone costs on this machine.  Prints the seconds
# from connect to the last byte.
# The client connects to CONNECT_PORT (default PORT: straight; else through
# agent_bench's slow link, which forwards to PORT).
# Usage: tls_pipe.sh IMAGE CA SERVER_CERT SERVER_KEY CLIENT_CERT CLIENT_KEY PORT [CONNECT_PORT]
set -eu
image=$1 ca=$2 scert=$3 skey=$4 ccert=$5 ckey=$6 port=$7 connect=${8:-$7}
timeout 120 socat -u -b 1048576 "OPEN:$image,rdonly" \
	"OPENSSL-LISTEN:$port,bind=127.0.0.1,reuseaddr,cert=$scert,key=$skey,cafile=$ca,verify=1" &
server=$!
sleep 0.3 # socat listens within milliseconds; the clock starts after
start=$(date +%s.%N)
timeout 120 socat -u -b 1048576 \
	"OPENSSL:localhost:$connect,cert=$ccert,key=$ckey,cafile=$ca,verify=1" - >/dev/null
end=$(date +%s.%N)
wait "$server"
awk -v s="$start" -v e="$end" 'BEGIN { printf "%.4f\n", e - s }'
