# A parent sleeps while five multiprocessing children (fork) exit at staggered times, then
# joins them: SIGCHLD interrupts the parent's sleep (restart_syscall) several times.
import multiprocessing
import os
import time


def work(i):
    time.sleep(0.02 * (i + 1))
    os._exit(30 + i)


if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
    procs = [multiprocessing.Process(target=work, args=(i,)) for i in range(5)]
    for p in procs:
        p.start()
    time.sleep(0.4)
    for p in procs:
        p.join()
    print("exit codes:", [p.exitcode for p in procs])
