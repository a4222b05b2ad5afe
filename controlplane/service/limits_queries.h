// The control plane's questions to data planes about one key's limits (fwdctl key get →
// GetKeyLimits): the admin handler asks every connected data plane that answers them, each
// Watch stream's writer sends the query, its reader hands the answer back, and the handler
// waits for every answer or its deadline. Nothing is kept once a question is answered.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "fwd/v1/watch.pb.h"

namespace fwd::controlplane::service {

/// Thread-safe; every method may be called from any thread.
class LimitsQueries {
 public:
  using StreamId = std::uint64_t;  // NodeRegistry::ConnectionId

  /// Queries waiting on one stream beyond this many are not sent (their askers time out).
  static constexpr size_t kMaxQueuedPerStream = 64;

  /// `wake` makes every Watch writer look at take() now rather than at its next poll.
  explicit LimitsQueries(std::function<void()> wake) : wake_(std::move(wake)) {}

  /// The stream `stream` of `node_id` answers queries until detach().
  void attach(StreamId stream, const std::string& node_id);
  /// Its unanswered queries are answered with nothing at once.
  void detach(StreamId stream);
  /// The queries to write on `stream` now (its writer's thread).
  std::vector<fwd::v1::LimitsQuery> take(StreamId stream);
  /// An answer read on `stream`; one that no asker waits for is ignored.
  void answer(StreamId stream, const fwd::v1::LimitsAnswer& answer);

  struct Reply {
    std::string node_id;
    std::optional<fwd::v1::LimitsAnswer> answer;  // none: no answer before the deadline
  };
  /// Asks every attached stream about key `key_id` and waits until each answered, went away or
  /// `deadline` passed. Sorted by node_id.
  std::vector<Reply> ask(std::uint64_t key_id, std::chrono::steady_clock::time_point deadline);

 private:
  struct Stream {
    std::string node_id;
    std::vector<fwd::v1::LimitsQuery> queued;
  };
  struct Pending {
    StreamId stream = 0;
    std::string node_id;
    bool done = false;
    std::optional<fwd::v1::LimitsAnswer> answer;
  };

  const std::function<void()> wake_;
  std::mutex mu_;
  std::condition_variable answered_;
  std::map<StreamId, Stream> streams_ ABSL_GUARDED_BY(mu_);
  std::map<std::uint64_t, Pending> pending_ ABSL_GUARDED_BY(mu_);  // by query id
  std::uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace fwd::controlplane::service
