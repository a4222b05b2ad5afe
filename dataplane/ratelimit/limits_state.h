// What `fwdctl key get` shows of a key's limits (fwd.v1.KeyLimitsState): each request and
// token window with its count and reset, the requests in flight, each budget spent and left.
// Read from this data plane's memory, or from Redis with one script that counts nothing. Never
// on the request path: the control plane asks over the Watch stream (LimitsQuery).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dataplane/ratelimit/key_limiter.h"
#include "fwd/v1/state.pb.h"

namespace fwd::dataplane::ratelimit {

/// The limits of `limiter` (null: the key has none) as this data plane's memory counts them at
/// `now`.
fwd::v1::KeyLimitsState memoryState(const KeyLimiter* limiter, Millis now);

/// The command that reads `limiter`'s counts in Redis (EVAL of peekScript()).
std::vector<std::string> peekCommand(const KeyLimiter& limiter);

/// The peek script's reply as state; false when it is not what the script returns for
/// `limiter`. Times are Redis's.
bool redisState(const KeyLimiter& limiter, std::string_view reply, fwd::v1::KeyLimitsState& out);

}  // namespace fwd::dataplane::ratelimit
