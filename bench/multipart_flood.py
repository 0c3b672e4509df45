"""Peak memory of `sharelock serve` under multipart forms bloated outside their files.

A slot for one file of at most 10 bytes receives, as chunked bodies (no Content-Length to warn
the server): a 200 MB part header, three of them at once, a 100 MB preamble and a 10 MB file
name. Prints each answer's status line and the server's peak RSS (VmHWM) after each step.

    cargo build --release -p sharelock
    python3 bench/multipart_flood.py target/release/sharelock
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

MIB = 1 << 20


def main(binary):
    data = tempfile.mkdtemp(prefix="sharelock-flood-")
    env = {**os.environ, "SHARELOCK_LOG": "warn"}
    serve = subprocess.Popen([binary, "--data-dir", data, "serve", "--bind", "127.0.0.1:0"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        base = serve.stdout.readline().decode().split()[-1]
        host, port = base.split("//")[1].rsplit(":", 1)
        slot = json.loads(subprocess.check_output(
            [binary, "--data-dir", data, "--json", "slot", "--max-size", "10", "--max-files", "1"]))
        path = slot["url"][slot["url"].index("/u/"):]

        def peak():
            with open(f"/proc/{serve.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM"):
                        return f"{int(line.split()[1]) // 1024} MiB"

        def flood(prefix, filler, length, suffix, answers):
            s = socket.create_connection((host, int(port)))
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
                      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode())
            chunk = lambda b: b"%x\r\n" % len(b) + b + b"\r\n"
            try:
                if prefix:
                    s.sendall(chunk(prefix))
                block = chunk(filler * 65536)
                for _ in range(length // 65536):
                    s.sendall(block)
                s.sendall(chunk(suffix) + b"0\r\n\r\n")
            except OSError:
                pass  # the server answered and closed before the end: the point
            answers.append(s.recv(200).split(b"\r\n")[0].decode())
            s.close()

        header = (b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nX-Pad: ',
                  b"a", 200 * MIB, b"\r\n\r\nhello\r\n--B--\r\n")
        preamble = (b"", b"p", 100 * MIB,
                    b'\r\n--B\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello\r\n--B--\r\n')
        file_name = (b'--B\r\nContent-Disposition: form-data; name="file"; filename="', b"n", 10 * MIB,
                     b'.txt"\r\n\r\nhello\r\n--B--\r\n')
        print("at rest: peak RSS", peak())
        for what, case, times in [("a 200 MB part header", header, 1), ("three at once", header, 3),
                                  ("a 100 MB preamble", preamble, 1), ("a 10 MB file name", file_name, 1)]:
            answers = []
            threads = [threading.Thread(target=flood, args=(*case, answers)) for _ in range(times)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            print(f"{what}: {answers}, peak RSS {peak()}")
    finally:
        serve.kill()
        serve.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/release/sharelock")
