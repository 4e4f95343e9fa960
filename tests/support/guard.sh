#!/usr/bin/env bash
# Runs a command in its own process group and ends that whole group when this script's
# stdin closes: the test process holds the other end, so wrangler and workerd never outlive
# the tests, even when a test panics or the runner is killed.
set -u
setsid "$@" </dev/null &
child=$!
cat >/dev/null
kill -TERM -- "-$child" 2>/dev/null
for _ in 1 2 3 4 5 6 7 8 9 10; do
  kill -0 -- "-$child" 2>/dev/null || exit 0
  sleep 0.3
done
kill -KILL -- "-$child" 2>/dev/null
exit 0
