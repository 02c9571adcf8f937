// The C++ wrapper (include/redcore.hpp) against a real server: run by `make test-cpp` under
// tests/tools/with-redis.sh, built with g++ and with clang++ (-std=c++17 -Wall -Wextra
// -Wpedantic -Werror), and under valgrind.
#include <redcore.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

static int failures = 0;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

// Runs f, which must throw a redcore::error whose code is or descends from `code`.
template <class F>
static bool throws(redcore_error_code code, F f) {
    try {
        f();
    } catch (const redcore::error &e) {
        if (!e.is(code)) {
            std::fprintf(stderr, "expected %s, got %s\n", redcore_error_code_name(code), e.what());
        }
        return e.is(code);
    }
    std::fprintf(stderr, "expected %s, nothing thrown\n", redcore_error_code_name(code));
    return false;
}

static std::string url() {
    const char *host = std::getenv("REDCORE_TEST_HOST");
    const char *port = std::getenv("REDCORE_TEST_PORT");
    if (host == nullptr || port == nullptr) {
        std::fprintf(stderr, "run me under tests/tools/with-redis.sh\n");
        std::exit(2);
    }
    return std::string("redis://") + host + ":" + port;
}

static void commands_and_replies(redcore::client &c) {
    using namespace std::string_view_literals;
    c.command({"SET", "cpp:bin", "a\0b"sv});
    redcore::reply r = c.command({"GET", "cpp:bin"});
    CHECK(r.type() == REDCORE_REPLY_BULK);
    CHECK(r.str() == "a\0b"sv);
    CHECK(c.command({"GET", "cpp:missing"}).is_nil());
    CHECK(c.command({"INCRBY", "cpp:n", "5"}).integer() >= 5);

    std::vector<std::string> args = {"HSET", "cpp:h", "f1", "v1", "f2", "v2"};
    c.command_range(args);
    redcore::reply map = c.command({"HGETALL", "cpp:h"});
    CHECK(map.type() == REDCORE_REPLY_MAP && map.size() == 2);
    CHECK(map.key(0).str() == "f1" && map.value(1).str() == "v2");
    CHECK(throws(REDCORE_ERR_INVALID_ARGUMENT, [&] { (void)map.key(5); }));

    // Server errors follow the hierarchy.
    c.command({"LPUSH", "cpp:list", "x"});
    CHECK(throws(REDCORE_ERR_RESPONSE, [&] { c.command({"GET", "cpp:list"}); }));
    CHECK(throws(REDCORE_ERR_NO_SCRIPT, [&] {
        c.command({"EVALSHA", "0000000000000000000000000000000000000000", "0"});
    }));
    CHECK(throws(REDCORE_ERR_DATA, [&] { (void)c.command({"PING"}).integer(); }));
    CHECK(throws(REDCORE_ERR_INVALID_ARGUMENT, [&] { c.command({"WATCH", "cpp:n"}); }));

    // Owned replies move; clones outlive their source.
    redcore::reply moved = std::move(r);
    CHECK(moved.str() == "a\0b"sv);
    redcore::reply copy = moved.clone();
    moved = c.command({"PING"});
    CHECK(copy.str() == "a\0b"sv && moved.str() == "PONG");
}

static void pipelines_and_transactions(redcore::client &c) {
    redcore::pipeline p;
    p.add({"SET", "cpp:p", "1"}).add({"INCR", "cpp:p"}).add({"LPUSH", "cpp:p", "x"});
    redcore::pipeline_result res = c.run(p);
    CHECK(res.size() == 3);
    CHECK(res[1].integer() == 2);
    CHECK(res.failed(2) && !res.failed(1));
    CHECK(throws(REDCORE_ERR_RESPONSE, [&] { (void)res[2]; }));

    redcore::pipeline tx(true);
    tx.add({"INCR", "cpp:t"}).add({"INCR", "cpp:t"});
    redcore::pipeline_result tres = c.run(tx);
    CHECK(tres[1].integer() == tres[0].integer() + 1);

    // Optimistic locking on a held connection.
    redcore::dedicated d = c.hold();
    d.command({"WATCH", "cpp:t"});
    c.command({"INCR", "cpp:t"}); // another client's write
    d.command({"MULTI"});
    d.command({"SET", "cpp:t", "lost"});
    CHECK(d.command({"EXEC"}).is_nil());
}

static void async_calls(redcore::client &c) {
    std::future<redcore::reply> f = c.command_future({"ECHO", "hello"});
    CHECK(f.get().str() == "hello");
    std::future<redcore::reply> bad = c.command_future({"GET", "cpp:list"});
    CHECK(throws(REDCORE_ERR_RESPONSE, [&] { bad.get(); }));

    std::atomic<int> done{0};
    for (int i = 0; i < 1000; i++) {
        c.command_async({"PING"}, [&done](const redcore::reply_view *r, const redcore::error *) {
            if (r != nullptr && r->str() == "PONG") {
                done++;
            }
        });
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (done < 1000 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    CHECK(done == 1000);
}

int main() {
    redcore::client c(url());
    commands_and_replies(c);
    pipelines_and_transactions(c);
    async_calls(c);

    redcore::config cfg = redcore::config::from_url(url());
    cfg.client_name("cpp-test").command_timeout(std::chrono::milliseconds(2000));
    redcore::client named(cfg);
    CHECK(named.command({"CLIENT", "GETNAME"}).str() == "cpp-test");

    CHECK(throws(REDCORE_ERR_INVALID_ARGUMENT, [] { redcore::config::from_url("nosuch://x"); }));
    CHECK(throws(REDCORE_ERR_CONNECTION, [] {
        redcore::config refused;
        refused.host("127.0.0.1", 1).connect_timeout(std::chrono::milliseconds(500));
        redcore::client never(refused);
    }));

    if (failures != 0) {
        std::fprintf(stderr, "client_test (C++): %d checks failed\n", failures);
        return 1;
    }
    std::printf("client_test (C++): all checks passed\n");
    return 0;
}
