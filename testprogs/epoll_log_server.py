"""A KV server with the shape of many real ones: epoll (selectors), non-blocking sockets,
and an append-only log file of every write. Usage: epoll_log_server.py PORT LOGFILE."""
import selectors
import socket
import sys

port, log_path = int(sys.argv[1]), sys.argv[2]
log = open(log_path, "a")
sel = selectors.DefaultSelector()
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(16)
listener.setblocking(False)
sel.register(listener, selectors.EVENT_READ)
data, pending = {}, {}
while True:
    for key, _ in sel.select():
        sock = key.fileobj
        if sock is listener:
            conn, _ = listener.accept()
            conn.setblocking(False)
            sel.register(conn, selectors.EVENT_READ)
            pending[conn] = b""
            continue
        try:
            chunk = sock.recv(4096)
        except (BlockingIOError, ConnectionError):
            continue
        if not chunk:
            sel.unregister(sock)
            sock.close()
            pending.pop(sock, None)
            continue
        pending[sock] += chunk
        while b"\n" in pending[sock]:
            line, pending[sock] = pending[sock].split(b"\n", 1)
            words = line.decode().split(" ", 2)
            if words[0] == "SET":
                data[words[1]] = words[2]
                log.write(f"SET {words[1]} {words[2]}\n")
                log.flush()
                reply = "OK"
            elif words[0] == "GET":
                reply = f"VALUE {data[words[1]]}" if words[1] in data else "NONE"
            else:
                reply = "PONG" if words[0] == "PING" else "ERR"
            try:
                sock.send((reply + "\n").encode())
            except ConnectionError:
                pass
