"""A pool of Python multiprocessing workers, checkpointed mid-way.

Run in the guest by the real_python scenario as `python3 -I -S -B
mp_pool.py N`: a Manager process (its server on a unix socket) holds a
dict the workers fill, a Pool of three workers squares N numbers fed
through its queues (pipes, and semaphores in /dev/shm), and the parent
prints its progress and, at the end, the sum it got, the sum the workers
recorded in the manager's dict and the sum it expected. With --list it
runs a small job, imports socketserver, and prints the files of the
modules loaded: what the guest needs of the standard library.
"""

import multiprocessing as mp
import sys
import time


def square(args):
    shared, n = args
    time.sleep(0.02)
    shared[n] = n * n
    return n * n


def main():
    listing = sys.argv[1] == "--list"
    count = 20 if listing else int(sys.argv[1])
    mp.set_start_method("fork")
    with mp.Manager() as manager:
        shared = manager.dict()
        with mp.Pool(3) as pool:
            total = 0
            jobs = ((shared, n) for n in range(count))
            for done, result in enumerate(pool.imap(square, jobs, chunksize=1), 1):
                total += result
                if done % 20 == 0:
                    print(f"progress {done}", flush=True)
        recorded = sum(shared.values())
    expected = sum(n * n for n in range(count))
    if listing:
        # The real_python_server_queue scenario's server needs it too.
        import socketserver  # noqa: F401

        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if path:
                print(path)
        return 0
    print(f"total {total} recorded {recorded} expected {expected}", flush=True)
    return 0 if total == recorded == expected else 1


if __name__ == "__main__":
    sys.exit(main())
