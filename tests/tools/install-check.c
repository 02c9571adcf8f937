/* Built by `make test-install` against an installed copy of redcore, found through
 * pkg-config: proves the header, the library and the .pc file work from outside the tree. */
#include <stdio.h>

#include <redcore.h>

int main(void) {
    const char *version = redcore_version();
    if (version == NULL) {
        fprintf(stderr, "redcore_version() returned NULL\n");
        return 1;
    }
    printf("%s\n", version);
    return 0;
}
