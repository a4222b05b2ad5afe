// The Redis a fleet counts its limits in, as `fwdctl settings set redis_url` names it:
// redis://[[user]:password@]host[:port][/db]. The control plane checks the URL; each data plane
// connects to it.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fwd::common::net {

struct RedisEndpoint {
  std::string user;  // Redis 6 ACL user; empty: AUTH with the password alone
  std::string host;
  std::string port = "6379";
  std::string password;
  int db = 0;
  bool operator==(const RedisEndpoint&) const = default;
};

/// The endpoint of a redis:// URL; errors name what is wrong (never echoing the password).
absl::StatusOr<RedisEndpoint> parseRedisUrl(std::string_view url);

/// The URL with its password replaced by "***" (for display); `url` as is when it has none or
/// does not parse.
std::string redactRedisUrl(std::string_view url);

}  // namespace fwd::common::net
