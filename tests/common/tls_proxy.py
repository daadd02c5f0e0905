"""Terminate TLS on a free loopback port and pass the bytes on, in the
clear, to the emulator at the address given.

    tls_proxy.py CERT KEY HOST:PORT

Prints one line, `ready https://127.0.0.1:PORT`, once it accepts
connections, then serves until standard input reaches end of file, so that
it never outlives the test that started it.
"""

import socket
import ssl
import sys
import threading


def pump(source, sink):
    # Either side closing ends both directions: the test only needs whole
    # request and response exchanges to pass through.
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listener, context, upstream):
    while True:
        client, _ = listener.accept()
        threading.Thread(target=handle, args=(client, context, upstream), daemon=True).start()


def handle(client, context, upstream):
    try:
        secure = context.wrap_socket(client, server_side=True)
    except (OSError, ssl.SSLError):
        # A client that rejects the certificate ends the handshake; that is
        # what some tests expect, so it is not an error here.
        client.close()
        return
    backend = socket.create_connection(upstream)
    threading.Thread(target=pump, args=(backend, secure), daemon=True).start()
    pump(secure, backend)


def main():
    cert, key, target = sys.argv[1:4]
    host, port = target.rsplit(":", 1)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=serve, args=(listener, context, (host, int(port))), daemon=True).start()
    print(f"ready https://127.0.0.1:{listener.getsockname()[1]}", flush=True)
    sys.stdin.read()


main()
