// redcore.h compiled as C++ (extern "C", the enums' underlying types), on its own: the C API
// is usable from C++ without the wrapper. Run by `make test-cpp` with g++ and clang++.
#include <redcore.h>

#include <cstdio>
#include <cstring>

int main() {
    static_assert(sizeof(redcore_reply_type) == 1, "reply types are one byte, as in C");
    redcore_config *cfg = nullptr;
    if (redcore_config_new(&cfg) != REDCORE_OK) {
        return 1;
    }
    redcore_config_free(cfg);
    const bool ok = redcore_error_code_is(REDCORE_ERR_AUTHENTICATION, REDCORE_ERR_CONNECTION) &&
                    std::strcmp(redcore_error_code_name(REDCORE_ERR_NO_SCRIPT), "NO_SCRIPT") == 0;
    std::printf("redcore.h as C++: %s (redcore %s)\n", ok ? "ok" : "FAILED", redcore_version());
    return ok ? 0 : 1;
}
