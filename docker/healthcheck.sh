#!/bin/bash
# The images' health check, with nothing but bash: healthcheck.sh PORT PATH succeeds when
# GET http://127.0.0.1:PORT/PATH answers 200 within 3 seconds.
exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$2" >&3
read -r -t 3 _ status _ <&3 && [ "$status" = 200 ]
