// The limits of one key as the data plane enforces them in memory: its request-rate windows,
// its token windows and its cap on requests in flight, resolved when the snapshot is compiled (the
// key's own limits, field by field over the default ones), with counters that outlive the snapshot
// so a config change does not reset a window. Every worker of the data plane shares them; nothing
// here takes a lock.
//
// In memory, each data plane counts on its own: across N replicas a limit of L admits up to
// N × L, and a restart starts every window again.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dataplane/ratelimit/budget.h"
#include "dataplane/ratelimit/window.h"
#include "fwd/v1/config.pb.h"

namespace fwd::dataplane::redis {
class Client;
}

namespace fwd::dataplane::ratelimit {

/// Where a limit comes from: the key itself, the default settings, or the route the request
/// matched.
enum class Scope { kKey, kDefault, kRoute };
std::string_view scopeName(Scope scope);

/// Counters by identity ("key/7/rate/60000/fixed-window"), kept across snapshots. Used on the
/// config thread only, while a snapshot compiles.
class CounterRegistry {
 public:
  std::shared_ptr<WindowCounter> window(const std::string& id);
  std::shared_ptr<TokenWindow> tokens(const std::string& id);
  std::shared_ptr<std::atomic<std::int64_t>> gauge(const std::string& id);
  std::shared_ptr<BudgetCounter> budget(const std::string& id);
  /// Forgets the counters no compiled snapshot holds any more.
  void prune();

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<WindowCounter>> windows_;
  std::map<std::string, std::shared_ptr<std::atomic<std::int64_t>>> gauges_;
  std::map<std::string, std::shared_ptr<TokenWindow>> tokens_;
  std::map<std::string, std::shared_ptr<BudgetCounter>> budgets_;
};

/// The most token windows a key has (--tokens, with --tpm's minute among them).
inline constexpr size_t kMaxTokenWindows = 8;
using TokenTags = std::array<std::uint32_t, kMaxTokenWindows>;

/// The answer to a token reservation.
struct TokenVerdict {
  bool refused = false;
  bool too_large = false;  // the request alone needs more than a window holds
  Scope scope = Scope::kKey;
  // The token window to report in x-ratelimit-*-tokens, chosen as for requests.
  std::uint64_t limit = 0;
  Millis window = 0;
  std::uint64_t remaining = 0;
  Millis reset = 0;
  std::uint64_t needed = 0;  // refused: the reservation asked for
};

/// One budget of a key (--budget-usd, --budget-tokens).
struct BudgetLimit {
  bool money = false;       // counted in nano-USD; else in tokens
  std::uint64_t limit = 0;  // in the counter's unit
  common::config::BudgetPeriod period = common::config::BudgetPeriod::kMonth;
  Scope scope = Scope::kKey;
  std::shared_ptr<BudgetCounter> spent;
  // A money budget's tokens of requests whose model has no price (their cost is unknown).
  std::shared_ptr<BudgetCounter> unpriced;
};

/// What a budget check found: the first budget that is spent, or none.
struct BudgetVerdict {
  const BudgetLimit* spent_budget = nullptr;  // nullptr: every budget has room
  std::uint64_t spent = 0;                    // what was spent of it this period
  Millis reset = -1;                          // until it renews; -1: never (a total budget)
};

/// What one request spent, for its key's budgets.
struct Spend {
  std::uint64_t tokens = 0;
  std::uint64_t nano_usd = 0;
  bool priced = false;  // nano_usd is known: the model had a price
};

/// The answer to one request's admission.
struct Verdict {
  enum class Refusal { kNone, kRate, kParallel };
  Refusal refused = Refusal::kNone;
  Scope scope = Scope::kKey;  // of the limit that refused
  // The request-rate window to report in x-ratelimit-*-requests: the one that refused, else
  // the one with the fewest requests left (the shorter on a tie). limit 0: the key has none.
  std::uint64_t limit = 0;
  Millis window = 0;
  std::uint64_t remaining = 0;
  Millis reset = 0;
  Millis retry = 0;  // refused: until a request would be admitted
};

class KeyLimiter {
 public:
  struct Rate {
    std::uint64_t count = 0;
    Millis window = 0;
    std::shared_ptr<WindowCounter> counter;
  };
  struct Tokens {
    std::uint64_t count = 0;
    Millis window = 0;
    std::shared_ptr<TokenWindow> counter;
  };

  /// The limits `key` has under `defaults` (a field the key leaves unset takes the default's);
  /// nullptr when it has none.
  static std::shared_ptr<const KeyLimiter> compile(std::uint64_t key_id, const fwd::v1::Limits& key,
                                                   const fwd::v1::Limits& defaults,
                                                   CounterRegistry& counters);
  /// The same for any owner: counters under `counter_prefix` ("key/7/"), Redis keys under
  /// `redis_prefix` ("fwd:{k7}"); `scope` kRoute marks every limit as the route's.
  static std::shared_ptr<const KeyLimiter> compile(const std::string& counter_prefix,
                                                   const std::string& redis_prefix,
                                                   const fwd::v1::Limits& own,
                                                   const fwd::v1::Limits& defaults,
                                                   CounterRegistry& counters,
                                                   Scope scope = Scope::kKey);

  /// Admits a request at `now` or refuses it: takes a parallel slot (when the key has a cap)
  /// and counts it in every rate window. Refused, it holds nothing. Any worker.
  Verdict admit(Millis now) const;
  /// Gives back the parallel slot of an admitted request.
  void release() const;
  bool capsParallel() const { return max_parallel_ > 0; }
  /// Stream pacing: nanoseconds per token a stream is delivered at, at most; 0: not paced.
  std::int64_t paceNs() const { return pace_ns_; }
  bool limitsRate() const { return !rates_.empty(); }
  bool limitsTokens() const { return !tokens_.empty(); }

  /// Reserves `amount` tokens at `now` in every token window (their tags go to `tags`), or
  /// none when one has no room.
  TokenVerdict reserve(Millis now, std::uint64_t amount, TokenTags& tags) const;
  /// The request that reserved `reserved` used `used` tokens: each window is corrected.
  void settle(const TokenTags& tags, std::uint64_t reserved, std::uint64_t used, Millis now) const;

  // Counted in Redis (redis_script.h) instead, exact across data planes.
  /// Where this key's counts live in Redis: "fwd:{k<id>}".
  const std::string& redisPrefix() const { return redis_prefix_; }
  /// Appends the admission script's ARGV: every request window, the token windows when
  /// `with_tokens` (else none), the budgets when `with_budgets` (else none), the tokens to
  /// reserve and the in-flight cap.
  void appendAdmitArgs(std::vector<std::string>& args, bool with_tokens, bool with_budgets,
                       std::uint64_t amount) const;
  /// The admission script's EVALSHA command, formatted (redis::formatCommand): built when the
  /// snapshot compiled; a request that reserves tokens has it completed with `amount` in
  /// `scratch`. The view is into this limiter or `scratch`. Without tokens, budgets are checked
  /// when `with_budgets`; with tokens, always.
  std::string_view admitCommand(bool with_tokens, bool with_budgets, std::uint64_t amount,
                                std::string& scratch) const;
  /// Appends the token windows' lengths as the settle script takes them (M, then M × ms).
  void appendTokenWindows(std::vector<std::string>& args) const;
  /// Budgets: each is checked at admission (spent below its limit) and charged when the request
  /// ends with what it used.
  bool hasBudgets() const { return !budgets_.empty(); }
  const std::vector<BudgetLimit>& budgets() const { return budgets_; }
  BudgetVerdict checkBudgets(Millis now) const;
  void spend(Millis now, const Spend& s) const;
  /// Redis: the settle script's budget arguments for `s` (B, then B × (kind, period, amount)).
  void appendSpendArgs(std::vector<std::string>& args, const Spend& s) const;

  // What fwdctl key get shows (limits_state.h).
  RateStrategy strategy() const { return strategy_; }
  const std::vector<Rate>& rates() const { return rates_; }
  const std::vector<Tokens>& tokenWindows() const { return tokens_; }
  std::uint32_t maxParallel() const { return max_parallel_; }
  /// Requests holding a parallel slot in this data plane's memory; 0 without a cap.
  std::int64_t inFlight() const {
    return in_flight_ ? in_flight_->load(std::memory_order_relaxed) : 0;
  }

  Scope rateScope() const { return rate_scope_; }
  Scope tokensScope() const { return tokens_scope_; }
  Scope parallelScope() const { return parallel_scope_; }
  /// What requests get while Redis is unreachable, and where that was set.
  bool failClosed() const { return fail_closed_; }
  Scope redisDownScope() const { return redis_down_scope_; }
  /// Redis refused this key's request until `until` (this host's clock) on the request window
  /// of `limit` per `window`: requests before then are refused here without asking Redis. Not
  /// kept for elastic expiry, whose every refusal pushes the window's end in Redis.
  void noteRefusedUntil(Millis until, std::uint64_t limit, Millis window) const;
  /// Fills `v` as a refusal and returns true while a noted refusal lasts at `now`.
  bool refusedUntil(Millis now, Verdict& v) const;

 private:
  RateStrategy strategy_ = RateStrategy::kFixedWindow;
  Scope rate_scope_ = Scope::kKey;
  std::vector<Rate> rates_;     // shortest window first
  std::vector<Tokens> tokens_;  // shortest window first
  Scope tokens_scope_ = Scope::kKey;
  std::uint32_t max_parallel_ = 0;
  Scope parallel_scope_ = Scope::kKey;
  std::shared_ptr<std::atomic<std::int64_t>> in_flight_;
  std::vector<BudgetLimit> budgets_;  // money ones first
  std::int64_t pace_ns_ = 0;
  std::string redis_prefix_;
  // admitCommand(): the whole command without tokens, and with tokens all but the amount and
  // the in-flight cap.
  std::string admit_command_;
  std::string admit_no_budgets_command_;
  std::string admit_tokens_head_;
  bool fail_closed_ = false;
  Scope redis_down_scope_ = Scope::kKey;
  // noteRefusedUntil: the end (ms) << 8 | the index of the window in rates_; 0: none.
  mutable std::atomic<std::uint64_t> refused_until_{0};
};

using KeyLimiterConstSharedPtr = std::shared_ptr<const KeyLimiter>;

/// What a request took from its key's limits, given back when it finishes.
struct Admission {
  const KeyLimiter* parallel = nullptr;  // holds one of this limiter's parallel slots
  const KeyLimiter* tokens = nullptr;    // reserved `reserved` tokens in its token windows
  const KeyLimiter* budgets = nullptr;   // charges its budgets with what the request used
  std::uint64_t reserved = 0;
  // Admitted by Redis (at `redis_now`, Redis's clock) rather than in memory: the slot and the
  // reservation are given back there.
  std::shared_ptr<redis::Client> redis;
  Millis redis_now = 0;
  std::uint64_t prompt_estimate = 0;
  TokenTags token_tags{};
  bool client_asked_usage = false;  // the client's stream_options.include_usage
  std::int64_t pace_ns = 0;         // a stream's pace (KeyLimiter::paceNs), when the key has one
};

}  // namespace fwd::dataplane::ratelimit
