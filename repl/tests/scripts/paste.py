"""Pastes N characters at figs' prompt through a pseudo-terminal, as a terminal without
bracketed paste does (key by key), reading figs' output on another thread the way a
terminal emulator does, then types a command. Prints what it saw as JSON.

    python3 paste.py FIGS_BINARY HISTORY_FILE N
"""
import json, os, pty, sys, threading, time

figs, history, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "xterm"
    os.execv(figs, ["figs", "--history", history])

out = bytearray()
lock = threading.Lock()


def reader():
    while True:
        try:
            d = os.read(fd, 65536)
        except OSError:
            return
        if not d:
            return
        with lock:
            out.extend(d)


def seen(needle, since=0):
    with lock:
        return out.find(needle, since) >= 0


def wait(needle, timeout, since=0):
    end = time.time() + timeout
    while not seen(needle, since) and time.time() < end:
        time.sleep(0.05)
    return seen(needle, since)


def paste():
    chunk = b"x" * 4096
    for _ in range(n // len(chunk)):
        os.write(fd, chunk)
    os.write(fd, b"\r")


threading.Thread(target=reader, daemon=True).start()
wait(b"figs> ", 60)
start = time.time()
writer = threading.Thread(target=paste, daemon=True)
writer.start()
# A figs that redraws the line per character never takes the whole paste: give up (and
# fail) instead of hanging.
writer.join(90)
if writer.is_alive():
    os.kill(pid, 9)
    print(json.dumps({"refused": False, "alive_after": False, "seconds": round(time.time() - start, 1), "hung": True}))
    sys.exit(0)
refused = wait(b"longer than", 60)
elapsed = time.time() - start
with lock:
    mark = len(out)
os.write(fd, b"data synthetic --size 256\r")
alive = wait(b"256 train", 60, mark)
os.write(fd, b"\x04")
try:
    os.waitpid(pid, 0)
except ChildProcessError:
    pass
print(json.dumps({"refused": refused, "alive_after": alive, "seconds": round(elapsed, 1), "output_bytes": mark}))
