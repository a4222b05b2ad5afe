#include "controlplane/notify/notifications.h"

#include <google/protobuf/util/time_util.h>
#include <pthread.h>

#include <algorithm>

#include "common/log/log.h"

namespace fwd::controlplane::notify {
namespace {

constexpr char kLog[] = "notify";
constexpr std::chrono::minutes kDefaultWindow{5};
// Notifiers are read from the store at most this often (they change rarely).
constexpr std::chrono::seconds kReload{2};

bool subscribed(const fwd::v1::Notifier& n, const std::string& event) {
  return std::find(n.events().begin(), n.events().end(), event) != n.events().end();
}

std::chrono::milliseconds windowOf(const fwd::v1::Notifier& n) {
  if (!n.has_window()) {
    return kDefaultWindow;
  }
  return std::chrono::milliseconds(
      google::protobuf::util::TimeUtil::DurationToMilliseconds(n.window()));
}

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string describe(const Message& m) {
  if (m.event == "5xx") {
    return "5xx answer" + (m.upstream.empty() ? std::string() : " from upstream " + m.upstream);
  }
  if (m.event == "all_upstreams_failed") {
    return "every upstream failed" +
           (m.upstream.empty() ? std::string() : " (the last tried: " + m.upstream + ")");
  }
  if (m.event == "budget_exceeded") {
    return "budget spent" + (m.key.empty() ? std::string() : " by key " + m.key);
  }
  if (m.event == "upstream_ejected") {
    return "upstream " + m.upstream + " ejected";
  }
  return m.event;
}

}  // namespace

std::string eventOf(const fwd::v1::Record& r) {
  if (r.error_code() == "insufficient_quota") {
    return "budget_exceeded";
  }
  if (r.status() >= 500 && r.error_code() == "upstream_error" &&
      r.outcome() != fwd::v1::OUTCOME_PARTIAL) {
    return "all_upstreams_failed";
  }
  if (r.status() >= 500) {
    return "5xx";
  }
  return "";
}

Notifications::Notifications(store::Store& store, Options options)
    : store_(store), options_(std::move(options)) {
  if (!options_.send) {
    const auto timeout = options_.send_timeout;
    options_.send = [timeout](const fwd::v1::Notifier& n, const Message& m,
                              const std::string& txn_id) { return deliver(n, m, txn_id, timeout); };
  }
}

Notifications::~Notifications() { stop(); }

void Notifications::start() {
  thread_ = std::thread([this] { run(); });
}

void Notifications::stop() {
  std::map<std::string, std::unique_ptr<Outbox>> outboxes;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [name, box] : outboxes_) {
      box->cv.notify_all();
    }
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();  // no outbox is made after this
  }
  {
    std::lock_guard lock(mu_);
    outboxes.swap(outboxes_);
  }
  for (auto& [name, box] : outboxes) {
    if (box->thread.joinable()) {
      box->thread.join();
    }
  }
}

std::uint64_t Notifications::sent() const {
  std::lock_guard lock(mu_);
  return sent_;
}

std::uint64_t Notifications::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}

void Notifications::push(Message m) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= options_.max_queued) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(m));
  }
  cv_.notify_one();
}

void Notifications::onRecords(const google::protobuf::RepeatedPtrField<fwd::v1::Record>& records) {
  for (const fwd::v1::Record& r : records) {
    onRecord(r);
  }
}

void Notifications::onRecords(const std::vector<fwd::v1::Record>& records) {
  for (const fwd::v1::Record& r : records) {
    onRecord(r);
  }
}

void Notifications::onRecord(const fwd::v1::Record& r) {
  std::string event = eventOf(r);
  if (event.empty()) {
    return;
  }
  Message m;
  m.event = std::move(event);
  m.upstream = r.upstream();
  m.key = r.key_name();
  m.node = r.node_id();
  m.time_ms = google::protobuf::util::TimeUtil::TimestampToMilliseconds(r.time());
  m.text = describe(m) + " (HTTP " + std::to_string(r.status()) + ", model " +
           (r.model().empty() ? std::string("-") : r.model()) + ", node " + r.node_id() + ")";
  push(std::move(m));
}

void Notifications::onUpstreamEjected(const std::string& node, const std::string& upstream) {
  Message m;
  m.event = "upstream_ejected";
  m.upstream = upstream;
  m.node = node;
  m.time_ms = nowMs();
  m.text = describe(m) + " by node " + node;
  push(std::move(m));
}

void Notifications::run() {
  ::pthread_setname_np(::pthread_self(), "fwd-notify");
  std::vector<fwd::v1::Notifier> notifiers;
  auto loaded = std::chrono::steady_clock::time_point{};
  std::uint64_t dropped_logged = 0;
  for (;;) {
    std::vector<Message> batch;
    std::uint64_t dropped = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, options_.tick, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        return;
      }
      batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
      queue_.clear();
      dropped = dropped_;
    }
    if (dropped > dropped_logged) {
      FWD_LOG(kWarn, kLog) << dropped - dropped_logged
                           << " events dropped: more were waiting than the queue holds";
      dropped_logged = dropped;
    }
    if (std::chrono::steady_clock::now() - loaded >= kReload ||
        (!batch.empty() && notifiers.empty())) {
      absl::StatusOr<std::vector<fwd::v1::Notifier>> all = store_.listNotifiers();
      if (all.ok()) {
        notifiers = std::move(*all);
        loaded = std::chrono::steady_clock::now();
      } else {
        FWD_LOG(kWarn, kLog) << "cannot read the notifiers: " << all.status().message();
      }
    }
    for (const Message& m : batch) {
      handle(m, notifiers);
    }
    closeWindows(notifiers);
  }
}

void Notifications::handle(const Message& m, const std::vector<fwd::v1::Notifier>& notifiers) {
  for (const fwd::v1::Notifier& n : notifiers) {
    // Every upstream failing is a 5xx too: a notifier on 5xx alone hears of it as one.
    std::string event = m.event;
    if (!subscribed(n, event)) {
      if (event != "all_upstreams_failed" || !subscribed(n, "5xx")) {
        continue;
      }
      event = "5xx";
    }
    Message out = m;
    out.event = event;
    WindowKey key{n.name(), event, m.upstream};
    auto it = windows_.find(key);
    if (it != windows_.end()) {
      ++it->second.suppressed;
      it->second.last = out;
      continue;
    }
    windows_[key] = Window{std::chrono::steady_clock::now() + windowOf(n), 0, out};
    enqueue(n, out);
  }
}

void Notifications::closeWindows(const std::vector<fwd::v1::Notifier>& notifiers) {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = windows_.begin(); it != windows_.end();) {
    if (it->second.closes > now) {
      ++it;
      continue;
    }
    const auto& [name, event, upstream] = it->first;
    auto n = std::find_if(notifiers.begin(), notifiers.end(),
                          [&](const fwd::v1::Notifier& x) { return x.name() == name; });
    if (it->second.suppressed == 0 || n == notifiers.end()) {
      it = windows_.erase(it);
      continue;
    }
    Message summary = it->second.last;
    summary.count = it->second.suppressed;
    summary.time_ms = nowMs();
    const auto window = windowOf(*n);
    summary.text =
        std::to_string(summary.count) + " more: " + describe(summary) + " within " +
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(window).count()) + "s";
    // The next window opens: while the events keep coming, one summary per window.
    it->second = Window{now + window, 0, it->second.last};
    enqueue(*n, summary);
    ++it;
  }
}

void Notifications::enqueue(const fwd::v1::Notifier& n, const Message& m) {
  const std::string txn = "fwd-" + std::to_string(nowMs()) + "-" + std::to_string(++next_txn_);
  std::lock_guard lock(mu_);
  if (stopping_) {
    return;
  }
  std::unique_ptr<Outbox>& box = outboxes_[n.name()];
  if (!box) {
    box = std::make_unique<Outbox>();
    box->thread = std::thread([this, b = box.get()] { runOutbox(*b); });
  }
  if (box->queue.size() >= options_.max_outbox) {
    ++failed_;
    FWD_LOG(kWarn, kLog) << "notifier \"" << n.name() << "\": message about " << m.event
                         << " dropped: " << box->queue.size()
                         << " are waiting for a receiver that does not take them";
    return;
  }
  box->queue.push_back(Outbox::Item{n, m, txn});
  box->cv.notify_one();
}

void Notifications::runOutbox(Outbox& box) {
  ::pthread_setname_np(::pthread_self(), "fwd-notify-out");
  for (;;) {
    Outbox::Item item;
    {
      std::unique_lock lock(mu_);
      box.cv.wait(lock, [&] { return stopping_ || !box.queue.empty(); });
      if (stopping_) {
        return;
      }
      item = std::move(box.queue.front());
      box.queue.pop_front();
    }
    sendWithRetries(box, item);
  }
}

void Notifications::sendWithRetries(Outbox& box, const Outbox::Item& item) {
  const fwd::v1::Notifier& n = item.notifier;
  const Message& m = item.message;
  for (size_t attempt = 0;; ++attempt) {
    absl::StatusOr<int> status = options_.send(n, m, item.txn_id);
    const bool ok = status.ok() && *status >= 200 && *status < 300;
    // A refused destination or a 4xx (but 429) will not get better by trying again.
    const bool final = (!status.ok() && absl::IsFailedPrecondition(status.status())) ||
                       (status.ok() && *status >= 400 && *status < 500 && *status != 429);
    if (ok) {
      std::lock_guard lock(mu_);
      ++sent_;
      return;
    }
    if (final || attempt >= options_.retry_backoff.size()) {
      FWD_LOG(kWarn, kLog) << "notifier \"" << n.name() << "\": message about " << m.event
                           << " not delivered ("
                           << (status.ok() ? "HTTP " + std::to_string(*status)
                                           : std::string(status.status().message()))
                           << ")";
      std::lock_guard lock(mu_);
      ++failed_;
      return;
    }
    std::unique_lock lock(mu_);
    if (box.cv.wait_for(lock, options_.retry_backoff[attempt], [&] { return stopping_; })) {
      return;
    }
  }
}

}  // namespace fwd::controlplane::notify
