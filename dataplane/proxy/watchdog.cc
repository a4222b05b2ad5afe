#include "dataplane/proxy/watchdog.h"

namespace fwd::dataplane::proxy {

Deadline::~Deadline() {
  if (watchdog_ != nullptr) {
    watchdog_->deadlines_.erase(this);
  }
}

void Deadline::bind(Watchdog& watchdog, Socket& socket) {
  if (watchdog_ == nullptr) {
    watchdog.deadlines_.insert(this);
    watchdog_ = &watchdog;
  }
  socket_ = &socket;
}

void Watchdog::start() {
  timer_.expires_after(tick_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) {
      return;
    }
    auto now = Deadline::Clock::now();
    sweep(now, now - timer_.expiry());
    start();
  });
}

void Watchdog::stop() {
  stopped_ = true;
  timer_.cancel();
}

void Watchdog::sweep(Deadline::Clock::time_point now, Deadline::Clock::duration late) {
  for (Deadline* d : deadlines_) {
    if (d->at_ <= now && d->socket_ != nullptr) {
      d->expired_ = true;
      boost::system::error_code ignored;
      d->socket_->cancel(ignored);
    }
  }
  if (on_tick_) {
    on_tick_(now, late);
  }
}

}  // namespace fwd::dataplane::proxy
