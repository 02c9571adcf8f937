/* redcore.hpp: a header-only C++17 wrapper over redcore.h.
 *
 * RAII handles (config, client, reply, pipeline, pipeline_result, dedicated), arguments as
 * std::string_view, and failures as redcore::error exceptions carrying the library's stable
 * code, so that `e.is(REDCORE_ERR_CONNECTION)` asks "is this a connection error?" along the
 * error hierarchy (redis-py's). Nothing here allocates per command beyond what the C call
 * does, except the std::function of an asynchronous call.
 *
 *     redcore::client c("redis://127.0.0.1:6379");
 *     c.command({"SET", "greeting", "hello"});
 *     redcore::reply r = c.command({"GET", "greeting"});
 *     std::cout << r.str() << "\n";
 *
 * Thread-safety is the C API's: a client may be used from any number of threads; a
 * pipeline, pipeline_result or dedicated connection from one at a time. */
#ifndef REDCORE_HPP
#define REDCORE_HPP

#include <redcore.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redcore {

/// A failure: the library's code (`REDCORE_ERR_*`) and its message (for server errors, the
/// server's full text).
class error : public std::runtime_error {
public:
    error(redcore_error_code code, const std::string &message)
        : std::runtime_error(std::string(redcore_error_code_name(code)) + ": " + message),
          code_(code), message_(message) {}

    /// The code, e.g. `REDCORE_ERR_NO_SCRIPT`.
    redcore_error_code code() const noexcept { return code_; }

    /// The code's name without its prefix ("NO_SCRIPT").
    const char *code_name() const noexcept { return redcore_error_code_name(code_); }

    /// The message alone.
    const std::string &message() const noexcept { return message_; }

    /// True when the code is `ancestor` or descends from it: an AUTHENTICATION error
    /// `is(REDCORE_ERR_CONNECTION)`, a NOSCRIPT error `is(REDCORE_ERR_RESPONSE)`.
    bool is(redcore_error_code ancestor) const noexcept {
        return redcore_error_code_is(code_, ancestor);
    }

private:
    redcore_error_code code_;
    std::string message_;
};

namespace detail {

/// An error from a borrowed C error (or from the code alone when there is none).
inline error make_error(redcore_error_code code, const redcore_error *err) {
    if (err == nullptr) {
        return error(code, "");
    }
    return error(redcore_error_get_code(err), redcore_error_message(err));
}

/// Runs `f(&err)`, a C call with a trailing `redcore_error **err_out`, and throws its error
/// (freeing the C one) when it fails. (The call is made before `err` is read: passing both
/// as arguments of one function would leave their order to the compiler.)
template <class F>
void call(F f) {
    redcore_error *err = nullptr;
    const redcore_error_code code = f(&err);
    if (code == REDCORE_OK) {
        return;
    }
    error e = make_error(code, err);
    redcore_error_free(err);
    throw e;
}

struct config_free {
    void operator()(redcore_config *p) const noexcept { redcore_config_free(p); }
};
struct client_free {
    void operator()(redcore_client *p) const noexcept { redcore_client_free(p); }
};
struct reply_free {
    void operator()(redcore_reply *p) const noexcept { redcore_reply_free(p); }
};
struct pipeline_free {
    void operator()(redcore_pipeline *p) const noexcept { redcore_pipeline_free(p); }
};
struct result_free {
    void operator()(redcore_pipeline_result *p) const noexcept { redcore_pipeline_result_free(p); }
};
struct dedicated_release {
    void operator()(redcore_dedicated *p) const noexcept { redcore_dedicated_release(p); }
};

/// A command's arguments as the C API takes them: pointers and lengths.
class argv {
public:
    template <class Range>
    explicit argv(const Range &args) {
        for (std::string_view a : args) {
            ptrs_.push_back(a.data());
            lens_.push_back(a.size());
        }
        if (ptrs_.empty()) {
            throw error(REDCORE_ERR_INVALID_ARGUMENT, "a command needs at least one argument");
        }
    }
    int argc() const { return static_cast<int>(ptrs_.size()); }
    const char *const *ptrs() const { return ptrs_.data(); }
    const size_t *lens() const { return lens_.data(); }

private:
    std::vector<const char *> ptrs_;
    std::vector<size_t> lens_;
};

/// Text that must be NUL-terminated for the C API.
inline std::string c_str(std::string_view s) { return std::string(s); }

} // namespace detail

class reply;

/// A borrowed view of a reply or of one of its elements; valid while the reply it came
/// from lives (a `reply`, a `pipeline_result`, or a callback's argument until it returns).
class reply_view {
public:
    explicit reply_view(const redcore_reply *r) noexcept : r_(r) {}

    /// The RESP type (`REDCORE_REPLY_*`).
    redcore_reply_type type() const noexcept { return redcore_reply_get_type(r_); }

    /// True for a null reply (GET of a missing key).
    bool is_nil() const noexcept { return type() == REDCORE_REPLY_NULL; }

    /// The bytes of a string-like reply (simple, bulk, verbatim, big number, error).
    /// Throws an error with `REDCORE_ERR_DATA` for other types.
    std::string_view str() const {
        size_t len = 0;
        const char *s = redcore_reply_string(r_, &len);
        if (s == nullptr) {
            throw error(REDCORE_ERR_DATA, "the reply is not a string");
        }
        return std::string_view(s, len);
    }

    /// The value of an integer reply; throws `REDCORE_ERR_DATA` for other types.
    int64_t integer() const {
        if (type() != REDCORE_REPLY_INTEGER) {
            throw error(REDCORE_ERR_DATA, "the reply is not an integer");
        }
        return redcore_reply_integer(r_);
    }

    /// The value of a double reply; throws `REDCORE_ERR_DATA` for other types.
    double number() const {
        if (type() != REDCORE_REPLY_DOUBLE) {
            throw error(REDCORE_ERR_DATA, "the reply is not a double");
        }
        return redcore_reply_double(r_);
    }

    /// The value of a boolean reply; throws `REDCORE_ERR_DATA` for other types.
    bool boolean() const {
        if (type() != REDCORE_REPLY_BOOLEAN) {
            throw error(REDCORE_ERR_DATA, "the reply is not a boolean");
        }
        return redcore_reply_bool(r_);
    }

    /// Elements of an array, set or push; pairs of a map. 0 for scalars.
    size_t size() const noexcept { return redcore_reply_len(r_); }

    /// Element `i` of an array, set or push (maps: wire order, key 0, value 0, ...).
    /// Throws `REDCORE_ERR_INVALID_ARGUMENT` out of range.
    reply_view operator[](size_t i) const { return checked(redcore_reply_element(r_, i)); }

    /// Key / value `i` of a map.
    reply_view key(size_t i) const { return checked(redcore_reply_map_key(r_, i)); }
    reply_view value(size_t i) const { return checked(redcore_reply_map_value(r_, i)); }

    /// The error code an error value maps to (`REDCORE_OK` for other types).
    redcore_error_code error_code() const noexcept { return redcore_reply_error_code(r_); }

    /// An owned deep copy.
    reply clone() const;

    /// The C handle.
    const redcore_reply *get() const noexcept { return r_; }

private:
    static reply_view checked(const redcore_reply *r) {
        if (r == nullptr) {
            throw error(REDCORE_ERR_INVALID_ARGUMENT, "no such element");
        }
        return reply_view(r);
    }

protected:
    const redcore_reply *r_;
};

/// An owned reply (freed when it goes out of scope); reads as a `reply_view`.
class reply : public reply_view {
public:
    explicit reply(redcore_reply *owned) noexcept : reply_view(owned), owner_(owned) {}
    reply(reply &&other) noexcept : reply_view(other.r_), owner_(std::move(other.owner_)) {
        other.r_ = nullptr;
    }
    reply &operator=(reply &&other) noexcept {
        owner_ = std::move(other.owner_);
        r_ = other.r_;
        other.r_ = nullptr;
        return *this;
    }

private:
    std::unique_ptr<redcore_reply, detail::reply_free> owner_;
};

inline reply reply_view::clone() const { return reply(redcore_reply_clone(r_)); }

/// Every knob of a client (copied by the client, so one config may make many clients).
class config {
public:
    /// The defaults: 127.0.0.1:6379, RESP3, 5 s timeouts (see redcore_config_new).
    config() {
        redcore_config *c = nullptr;
        detail::call([&](redcore_error **) { return redcore_config_new(&c); });
        c_.reset(c);
    }

    /// A config from a URL: redis://user:pass@host:port/db?protocol=3&command_timeout=2s,
    /// rediss://..., unix:///path?db=1.
    static config from_url(std::string_view url) {
        redcore_config *c = nullptr;
        detail::call([&](redcore_error **e) {
            return redcore_config_from_url(detail::c_str(url).c_str(), &c, e);
        });
        return config(c);
    }

    config &host(std::string_view host, uint16_t port) {
        return set([&](redcore_error **e) {
            return redcore_config_set_host(c_.get(), detail::c_str(host).c_str(), port, e);
        });
    }
    config &username(std::string_view user) {
        return set([&](redcore_error **e) {
            return redcore_config_set_username(c_.get(), detail::c_str(user).c_str(), e);
        });
    }
    config &password(std::string_view password) {
        return set([&](redcore_error **e) {
            return redcore_config_set_password(c_.get(), detail::c_str(password).c_str(), e);
        });
    }
    config &db(uint32_t db) {
        return set([&](redcore_error **e) { return redcore_config_set_db(c_.get(), db, e); });
    }
    config &protocol(int version) {
        return set([&](redcore_error **e) {
            return redcore_config_set_protocol(c_.get(), version, e);
        });
    }
    config &command_timeout(std::chrono::milliseconds t) {
        return set([&](redcore_error **e) {
            return redcore_config_set_command_timeout_ms(c_.get(), ms(t), e);
        });
    }
    config &connect_timeout(std::chrono::milliseconds t) {
        return set([&](redcore_error **e) {
            return redcore_config_set_connect_timeout_ms(c_.get(), ms(t), e);
        });
    }
    config &client_name(std::string_view name) {
        return set([&](redcore_error **e) {
            return redcore_config_set_client_name(c_.get(), detail::c_str(name).c_str(), e);
        });
    }
    config &tls_ca_file(std::string_view path) {
        return set([&](redcore_error **e) {
            return redcore_config_set_tls_ca_file(c_.get(), detail::c_str(path).c_str(), e);
        });
    }

    /// The C handle (still owned by this config).
    const redcore_config *get() const noexcept { return c_.get(); }

private:
    explicit config(redcore_config *c) : c_(c) {}

    template <class F>
    config &set(F f) {
        detail::call(f);
        return *this;
    }

    static uint64_t ms(std::chrono::milliseconds t) {
        return t.count() < 0 ? 0 : static_cast<uint64_t>(t.count());
    }

    std::unique_ptr<redcore_config, detail::config_free> c_;
};

/// Commands to send together on one connection, or a MULTI / EXEC transaction.
class pipeline {
public:
    explicit pipeline(bool transaction = false) {
        redcore_pipeline *p = nullptr;
        detail::call([&](redcore_error **) { return redcore_pipeline_new(transaction, &p); });
        p_.reset(p);
    }

    /// Appends a command (copied).
    pipeline &add(std::initializer_list<std::string_view> args) { return add_range(args); }
    template <class Range>
    pipeline &add_range(const Range &args) {
        detail::argv a(args);
        detail::call([&](redcore_error **e) {
            return redcore_pipeline_append(p_.get(), a.argc(), a.ptrs(), a.lens(), e);
        });
        return *this;
    }

    size_t size() const noexcept { return redcore_pipeline_len(p_.get()); }
    void clear() noexcept { redcore_pipeline_clear(p_.get()); }
    const redcore_pipeline *get() const noexcept { return p_.get(); }

private:
    std::unique_ptr<redcore_pipeline, detail::pipeline_free> p_;
};

/// The results of a pipeline run, one per command.
class pipeline_result {
public:
    explicit pipeline_result(redcore_pipeline_result *owned) noexcept : r_(owned) {}

    size_t size() const noexcept { return redcore_pipeline_result_len(r_.get()); }

    /// Command `i`'s reply, borrowed from this result; throws its error if it failed.
    reply_view operator[](size_t i) const {
        const redcore_reply *reply = nullptr;
        const redcore_error *err = nullptr;
        redcore_error_code code = redcore_pipeline_result_get(r_.get(), i, &reply, &err);
        if (code != REDCORE_OK) {
            throw detail::make_error(code, err);
        }
        return reply_view(reply);
    }

    /// True when command `i` failed.
    bool failed(size_t i) const noexcept {
        const redcore_reply *reply = nullptr;
        return redcore_pipeline_result_get(r_.get(), i, &reply, nullptr) != REDCORE_OK;
    }

private:
    std::unique_ptr<redcore_pipeline_result, detail::result_free> r_;
};

/// A connection held for stateful work (WATCH / MULTI / EXEC, SELECT); given back when it
/// goes out of scope. Use it from one thread at a time.
class dedicated {
public:
    explicit dedicated(redcore_dedicated *owned) noexcept : d_(owned) {}

    reply command(std::initializer_list<std::string_view> args) { return command_range(args); }
    template <class Range>
    reply command_range(const Range &args) {
        detail::argv a(args);
        redcore_reply *r = nullptr;
        detail::call([&](redcore_error **e) {
            return redcore_dedicated_command_blocking(d_.get(), a.argc(), a.ptrs(), a.lens(), &r, e);
        });
        return reply(r);
    }

private:
    std::unique_ptr<redcore_dedicated, detail::dedicated_release> d_;
};

/// A thread-safe client: pooled, multiplexed connections driven by the library's own
/// event-loop thread. Closing it (destruction) completes every pending call with
/// `REDCORE_ERR_CLOSED` first.
class client {
public:
    /// The callback of an asynchronous command: the reply (borrowed until it returns), or
    /// nullptr and the error. Runs once, on a library thread; must not block; exceptions
    /// it throws are swallowed (they cannot cross into C).
    using callback = std::function<void(const reply_view *reply, const error *err)>;

    explicit client(const config &cfg) {
        redcore_client *c = nullptr;
        detail::call([&](redcore_error **e) { return redcore_client_new(cfg.get(), &c, e); });
        c_.reset(c);
    }
    explicit client(std::string_view url) : client(config::from_url(url)) {}

    /// Sends a command and waits for its reply; throws an error for failures, server error
    /// replies included (`e.is(REDCORE_ERR_RESPONSE)`).
    reply command(std::initializer_list<std::string_view> args) { return command_range(args); }
    template <class Range>
    reply command_range(const Range &args) {
        detail::argv a(args);
        redcore_reply *r = nullptr;
        detail::call([&](redcore_error **e) {
            return redcore_client_command_blocking(c_.get(), a.argc(), a.ptrs(), a.lens(), &r, e);
        });
        return reply(r);
    }

    /// Sends a command without waiting; `done` runs once with the outcome.
    void command_async(std::initializer_list<std::string_view> args, callback done) {
        command_async_range(args, std::move(done));
    }
    template <class Range>
    void command_async_range(const Range &args, callback done) {
        detail::argv a(args);
        auto held = std::make_unique<callback>(std::move(done));
        detail::call([&](redcore_error **e) {
            return redcore_client_command(c_.get(), a.argc(), a.ptrs(), a.lens(),
                                          &client::trampoline, held.get(), e);
        });
        held.release(); // the trampoline owns it now: the C call runs it exactly once
    }

    /// Sends a command; the future gets an owned copy of the reply, or the error.
    std::future<reply> command_future(std::initializer_list<std::string_view> args) {
        auto promise = std::make_shared<std::promise<reply>>();
        std::future<reply> f = promise->get_future();
        command_async(args, [promise](const reply_view *r, const error *e) {
            if (r != nullptr) {
                promise->set_value(r->clone());
            } else {
                promise->set_exception(std::make_exception_ptr(*e));
            }
        });
        return f;
    }

    /// Runs a pipeline and waits for every result. Individual commands may still have
    /// failed: reading their result throws their error.
    pipeline_result run(const pipeline &p) {
        redcore_pipeline_result *r = nullptr;
        detail::call([&](redcore_error **e) {
            return redcore_client_pipeline_run_blocking(c_.get(), p.get(), &r, e);
        });
        return pipeline_result(r);
    }

    /// Takes a dedicated connection (waiting up to the configured time for a free one).
    dedicated hold() {
        redcore_dedicated *d = nullptr;
        detail::call([&](redcore_error **e) { return redcore_client_dedicated(c_.get(), &d, e); });
        return dedicated(d);
    }

    /// The C handle (still owned by this client).
    const redcore_client *get() const noexcept { return c_.get(); }

private:
    static void trampoline(void *userdata, const redcore_reply *r, const redcore_error *e) {
        std::unique_ptr<callback> done(static_cast<callback *>(userdata));
        try {
            if (r != nullptr) {
                reply_view view(r);
                (*done)(&view, nullptr);
            } else {
                error failure = detail::make_error(REDCORE_ERR_INTERNAL, e);
                (*done)(nullptr, &failure);
            }
        } catch (...) {
            // Nothing may unwind into C.
        }
    }

    std::unique_ptr<redcore_client, detail::client_free> c_;
};

} // namespace redcore

#endif // REDCORE_HPP
