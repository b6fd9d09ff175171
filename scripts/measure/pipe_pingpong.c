/* The floor of a stdio round trip on this machine: two processes bouncing one byte over two pipes, 2,000 times
 * after 100 warm-up rounds; prints the median. No server work at all, so what it shows is the cost of the wake-ups
 * alone. Run it several times, and once pinned (`taskset -c 0`): whether the scheduler puts the two processes on
 * the same CPU decides the figure.
 *
 *   gcc -O2 scripts/measure/pipe_pingpong.c -o /tmp/pipe_pingpong && for i in 1 2 3 4 5 6; do /tmp/pipe_pingpong; done
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(void) {
    enum { WARMUP = 100, ROUNDS = 2000 };
    int to_child[2], to_parent[2];
    char byte;
    if (pipe(to_child) || pipe(to_parent)) return 1;
    if (fork() == 0) {
        close(to_child[1]);
        while (read(to_child[0], &byte, 1) == 1) {
            if (write(to_parent[1], &byte, 1) != 1) return 1;
        }
        return 0;
    }
    static double lat[ROUNDS];
    for (int i = 0; i < WARMUP + ROUNDS; i++) {
        double t = now_us();
        if (write(to_child[1], "x", 1) != 1 || read(to_parent[0], &byte, 1) != 1) return 1;
        if (i >= WARMUP) lat[i - WARMUP] = now_us() - t;
    }
    qsort(lat, ROUNDS, sizeof lat[0], by_value);
    printf("pipe round trip: p50 %.1f us, p99 %.1f us\n", lat[ROUNDS / 2], lat[ROUNDS * 99 / 100]);
    close(to_child[1]);
    wait(NULL);
    return 0;
}
