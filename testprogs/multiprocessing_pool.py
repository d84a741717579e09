"""python multiprocessing: a Pool of two workers maps a function over a range (pipes, a
semaphore in shared memory, handler threads), a Value and a Lock shared by three Processes,
and a Queue; prints the results, the workers' pids and a random number."""
import multiprocessing as mp
import os
import random


def square(x):
    return x * x, os.getpid()


def add(lock, counter, n):
    for _ in range(n):
        with lock:
            counter.value += 1


if __name__ == "__main__":
    with mp.Pool(2) as pool:
        results = pool.map(square, range(40), chunksize=3)
    print(sum(r for r, _ in results), len({p for _, p in results}) <= 2)
    lock, counter = mp.Lock(), mp.Value("i", 0)
    procs = [mp.Process(target=add, args=(lock, counter, 100)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    q = mp.Queue()
    w = mp.Process(target=q.put, args=(random.random(),))
    w.start()
    print(counter.value, q.get())
    w.join()
