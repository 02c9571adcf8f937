/* redcore's hiredis-compatible API: run an async context in a Qt event loop (Qt 5 or 6, C++).
 *
 * Written for redcore (not taken from hiredis), with hiredis's names: a RedisQtAdapter
 * (a QObject, owned by the program) is given the context with setContext(ac); the thread's
 * Qt event loop then drives it. Two QSocketNotifiers, enabled while the context wants to read
 * or write, and a single-shot QTimer for its timeout. It declares no signals or slots, so it
 * needs no moc step (running moc on this header, as hiredis's build does, finds nothing to do
 * and is harmless). Header only: it uses nothing but the `ev` hooks. */
#ifndef HIREDIS_QT_H
#define HIREDIS_QT_H

#include <QEvent>
#include <QObject>
#include <QSocketNotifier>
#include <QTimer>

#include "../async.h"

class RedisQtAdapter : public QObject {
  public:
    explicit RedisQtAdapter(QObject *parent = nullptr) : QObject(parent) {
        m_timer.setSingleShot(true);
        QObject::connect(&m_timer, &QTimer::timeout, this, [this]() {
            if (m_ctx != nullptr)
                redisAsyncHandleTimeout(m_ctx);
        });
    }

    ~RedisQtAdapter() override {
        /* Dropped before its context: the context must not call it again. */
        if (m_ctx != nullptr) {
            m_ctx->ev.data = nullptr;
            m_ctx->ev.addRead = nullptr;
            m_ctx->ev.delRead = nullptr;
            m_ctx->ev.addWrite = nullptr;
            m_ctx->ev.delWrite = nullptr;
            m_ctx->ev.cleanup = nullptr;
            m_ctx->ev.scheduleTimer = nullptr;
        }
    }

    RedisQtAdapter(const RedisQtAdapter &) = delete;
    RedisQtAdapter &operator=(const RedisQtAdapter &) = delete;

    int setContext(redisAsyncContext *ac) {
        if (ac == nullptr || ac->ev.data != nullptr || m_ctx != nullptr)
            return REDIS_ERR;
        m_ctx = ac;
        m_read = new Notifier(ac->c.fd, QSocketNotifier::Read, this);
        m_write = new Notifier(ac->c.fd, QSocketNotifier::Write, this);
        ac->ev.data = this;
        ac->ev.addRead = [](void *d) { static_cast<RedisQtAdapter *>(d)->m_read->setEnabled(true); };
        ac->ev.delRead = [](void *d) { static_cast<RedisQtAdapter *>(d)->m_read->setEnabled(false); };
        ac->ev.addWrite = [](void *d) { static_cast<RedisQtAdapter *>(d)->m_write->setEnabled(true); };
        ac->ev.delWrite = [](void *d) { static_cast<RedisQtAdapter *>(d)->m_write->setEnabled(false); };
        ac->ev.cleanup = [](void *d) { static_cast<RedisQtAdapter *>(d)->release(); };
        ac->ev.scheduleTimer = [](void *d, struct timeval tv) {
            long long ms = (long long)tv.tv_sec * 1000 + ((long long)tv.tv_usec + 999) / 1000;
            static_cast<RedisQtAdapter *>(d)->m_timer.start((int)ms);
        };
        return REDIS_OK;
    }

  private:
    /* A notifier that hands its activations straight to the context, without signals. */
    class Notifier : public QSocketNotifier {
      public:
        Notifier(int fd, QSocketNotifier::Type type, RedisQtAdapter *owner)
            : QSocketNotifier(fd, type, owner), m_owner(owner) {
            setEnabled(false);
        }

      protected:
        bool event(QEvent *e) override {
            if (e->type() != QEvent::SockAct)
                return QSocketNotifier::event(e);
            if (m_owner->m_ctx != nullptr) {
                if (type() == QSocketNotifier::Read)
                    redisAsyncHandleRead(m_owner->m_ctx);
                else
                    redisAsyncHandleWrite(m_owner->m_ctx);
            }
            return true;
        }

      private:
        RedisQtAdapter *m_owner;
    };

    /* The context is going away (possibly from inside a notifier's event): the notifiers
     * stop and stay, children of the adapter, until it is destroyed. */
    void release() {
        m_ctx = nullptr;
        m_read->setEnabled(false);
        m_write->setEnabled(false);
        m_timer.stop();
    }

    redisAsyncContext *m_ctx = nullptr;
    Notifier *m_read = nullptr;
    Notifier *m_write = nullptr;
    QTimer m_timer;
};

#endif /* HIREDIS_QT_H */
