#include "dataplane/proxy/watchdog.h"

namespace fwd::dataplane::proxy {

Deadline::~Deadline() {
  if (watchdog_ != nullptr) {
    watchdog_->deadlines_.erase(this);
  }
}

void Deadline::bind(Watchdog& watchdog, boost::asio::ip::tcp::socket& socket) {
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
    sweep();
    start();
  });
}

void Watchdog::stop() {
  stopped_ = true;
  timer_.cancel();
}

void Watchdog::sweep() {
  auto now = Deadline::Clock::now();
  for (Deadline* d : deadlines_) {
    if (d->at_ <= now && d->socket_ != nullptr) {
      d->expired_ = true;
      boost::system::error_code ignored;
      d->socket_->cancel(ignored);
    }
  }
  if (on_tick_) {
    on_tick_(now);
  }
}

}  // namespace fwd::dataplane::proxy
