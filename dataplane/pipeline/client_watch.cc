#include "dataplane/pipeline/client_watch.h"

#include <sys/socket.h>

#include <cassert>
#include <cerrno>

namespace fwd::dataplane::pipeline {
namespace {

using ClientWatchPtr = std::shared_ptr<ClientWatch>;

void arm(const ClientWatchPtr& watch) {
  watch->armed = true;
  watch->client->async_wait(proxy::Socket::wait_read, [watch](boost::system::error_code ec) {
    if (ec || !watch->active) {
      return;  // cancelled, or the attempt is over: the sockets may be gone, touch nothing
    }
    char c;
    ssize_t n = ::recv(watch->client->native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
      return;  // bytes of a pipelined next request: the client is there
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      arm(watch);
      return;
    }
    watch->gone = true;
    if (watch->upstream != nullptr) {
      boost::system::error_code ignored;
      watch->upstream->cancel(ignored);
    }
  });
}

}  // namespace

WatchedAttempt::WatchedAttempt(proxy::WorkerContext& w, proxy::Socket& client)
    : w_(w), watch_(std::make_shared<ClientWatch>()) {
  watch_->client = &client;
  watch_->since = std::chrono::steady_clock::now();
  watch_->slot = w.unarmed_watches.size();
  w.unarmed_watches.push_back(watch_);
}

WatchedAttempt::~WatchedAttempt() {
  watch_->active = false;
  watch_->upstream = nullptr;
  if (watch_->armed) {
    boost::system::error_code ignored;
    watch_->client->cancel(ignored);  // completes the pending wait with operation_aborted
    return;
  }
  // Never armed (the usual, fast case): leave the list by swapping with the last entry.
  auto& list = w_.unarmed_watches;
  size_t i = watch_->slot;
  assert(i < list.size() && list[i] == watch_);
  if (i + 1 != list.size()) {
    list[i] = std::move(list.back());
    list[i]->slot = i;
  }
  list.pop_back();
}

void armDueClientWatches(proxy::WorkerContext& w, std::chrono::steady_clock::time_point now) {
  auto due = now - w.watchdog.tick();
  auto& list = w.unarmed_watches;
  size_t kept = 0;
  for (size_t i = 0; i < list.size(); ++i) {
    ClientWatchPtr& watch = list[i];
    if (watch->since <= due) {
      arm(watch);  // armed ones leave the list; their attempt cancels the wait
      continue;
    }
    watch->slot = kept;
    list[kept++] = std::move(watch);
  }
  list.resize(kept);
}

}  // namespace fwd::dataplane::pipeline
