# Sourced by the scripts that start servers on loopback (wrangler dev, next start).
#
# free_port [EXCLUDED...]: a loopback TCP port nobody listens on, picked at random from
# 20000-32767, below the kernel's ephemeral range (32768-60999 here), so no outgoing
# connection can take it as its local port between this check and the server binding it
# (port 0 would hand out an ephemeral port, which a connection made meanwhile may reuse).
free_port() {
  node -e '
    const net = require("net");
    const excluded = new Set(process.argv.slice(1).map(Number));
    function attempt(left) {
      const port = 20000 + Math.floor(Math.random() * 12768);
      if (excluded.has(port)) return attempt(left);
      const server = net.createServer();
      server.once("error", () => (left > 0 ? attempt(left - 1) : process.exit(1)));
      server.listen(port, "127.0.0.1", () => { console.log(port); server.close(); });
    }
    attempt(100);
  ' "$@"
}

# retry_on_port_clash LOG PID ATTEMPTS_VAR: after a server started on free_port ports (PID)
# exited, true when it should start again on other ports: its LOG says a port was taken
# between free_port and its bind, and fewer than three tries were made. Then PID is reaped
# and the variable named ATTEMPTS_VAR counts one more try.
retry_on_port_clash() {
  local log="$1" pid="$2"
  local -n tries="$3"
  grep -q "Address already in use" "$log" && (( tries < 3 )) || return 1
  wait "$pid" 2>/dev/null || true
  tries=$((tries + 1))
}
