#include "common/net/redis_url.h"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <charconv>

namespace fwd::common::net {

absl::StatusOr<RedisEndpoint> parseRedisUrl(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || parsed->scheme() != "redis") {
    return absl::InvalidArgumentError(
        "redis URL: expected redis://[[user]:password@]host[:port][/db], e.g. "
        "redis://127.0.0.1:6379/0");
  }
  RedisEndpoint e;
  e.host = std::string(parsed->encoded_host_address().decode());
  if (!e.host.empty() && e.host.front() == '[') {
    e.host = e.host.substr(1, e.host.size() - 2);
  }
  if (e.host.empty()) {
    return absl::InvalidArgumentError("redis URL: no host");
  }
  if (parsed->has_port()) {
    if (parsed->port_number() == 0) {
      return absl::InvalidArgumentError("redis URL: the port must be 1..65535");
    }
    e.port = std::string(parsed->port());
  }
  if (parsed->has_userinfo()) {
    e.user = std::string(parsed->encoded_user().decode());
    e.password = std::string(parsed->encoded_password().decode());
  }
  std::string_view path = parsed->encoded_path();
  if (!path.empty() && path != "/") {
    std::string_view db = path.substr(1);
    auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), e.db);
    if (ec != std::errc() || end != db.data() + db.size() || e.db < 0 || e.db > 1000) {
      return absl::InvalidArgumentError("redis URL: the path must be a database number, /0");
    }
  }
  return e;
}

std::string redactRedisUrl(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || !parsed->has_password() || parsed->encoded_password().empty()) {
    return std::string(url);
  }
  boost::urls::url out(*parsed);
  out.set_password("***");
  return std::string(out.buffer());
}

}  // namespace fwd::common::net
