// The async API in a Qt event loop (adapters/qt.h), against Debian's qtbase5-dev: the cases of
// adapter_cases.h, built as C++ (tests/tools/hiredis-adapters-check.sh builds and runs it).
#include <QCoreApplication>
#include <QEventLoop>
#include <QTimer>

#include <adapters/qt.h>

#include "../adapter_cases.h"

static RedisQtAdapter *adapters[8];
static int nadapters;

static int attach(redisAsyncContext *c) {
    if (c->ev.data != nullptr)
        return REDIS_ERR;
    RedisQtAdapter *a = new RedisQtAdapter();
    if (a->setContext(c) != REDIS_OK) {
        delete a;
        return REDIS_ERR;
    }
    adapters[nadapters++] = a;
    return REDIS_OK;
}

// One turn: events for at most 100 ms.
static void turn(void) {
    QEventLoop loop;
    QTimer::singleShot(100, &loop, &QEventLoop::quit);
    loop.processEvents(QEventLoop::WaitForMoreEvents);
}

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    run_adapter_cases("qt");
    for (int i = 0; i < nadapters; i++)
        delete adapters[i];
    return finish("hiredis async_qt_test");
}
