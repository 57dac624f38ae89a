/* leak_canary: leaks on purpose. scripts/test.sh builds it with the
 * sanitizer build's flags and runs it with the same ASAN_OPTIONS as the test
 * suite; it must FAIL with a LeakSanitizer report, which proves that leak
 * checking is really active for the suite in this environment (LeakSanitizer
 * silently does nothing where ptrace is restricted). If it passes, test.sh
 * falls back to Valgrind memcheck. The block is allocated in a function of
 * its own and its only pointer overwritten, so no stale copy in a register
 * or stack slot of main keeps it reachable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile sink;

__attribute__((noinline)) static void leak(void)
{
    char *p = malloc(4242);
    if (p)
        memset(p, 'x', 4242);
    sink = p;
    sink = NULL; /* the only pointer is gone: a definite leak */
}

__attribute__((noinline)) static void clobber(void)
{
    volatile char buf[8192];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = 0;
}

int main(void)
{
    leak();
    clobber();
    printf("leaked 4242 bytes\n");
    return 0;
}
