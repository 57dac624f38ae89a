/* leak_canary: leaks on purpose. scripts/test.sh builds it with the
 * sanitizer build's flags and runs it with the same ASAN_OPTIONS as the test
 * suite; it must FAIL with a LeakSanitizer report, which proves that leak
 * checking is really active for the suite in this environment (LeakSanitizer
 * silently does nothing where ptrace is restricted). If it passes, test.sh
 * falls back to Valgrind memcheck. */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    char *p = malloc(4242);
    if (!p)
        return 2;
    snprintf(p, 4242, "leaked");
    printf("%s\n", p);
    p = NULL; /* the only pointer is gone: a definite leak */
    return 0;
}
