// Built by examples/cmake/CMakeLists.txt against an installed redcore: sets a greeting and
// reads it back. The server's URL is the first argument (default redis://127.0.0.1:6379).
#include <redcore.hpp>

#include <iostream>

int main(int argc, char **argv) {
    const char *url = argc > 1 ? argv[1] : "redis://127.0.0.1:6379";
    try {
        redcore::client client(url);
        client.command({"SET", "cmake:greeting", "hello from CMake"});
        redcore::reply reply = client.command({"GET", "cmake:greeting"});
        std::cout << reply.str() << " (redcore " << redcore_version() << ")\n";
    } catch (const redcore::error &e) {
        std::cerr << "greet: " << e.what()
                  << (e.is(REDCORE_ERR_CONNECTION) ? " (is the server running?)" : "") << "\n";
        return 1;
    }
    return 0;
}
