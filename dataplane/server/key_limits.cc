// Server::readKeyLimits: what fwdctl key get shows of a key's limits, read on worker 0.
#include <boost/asio/post.hpp>

#include "dataplane/ratelimit/limit_policy.h"
#include "dataplane/ratelimit/limits_state.h"
#include "dataplane/redis/redis_client.h"
#include "dataplane/server/server.h"

namespace fwd::dataplane::server {

void Server::readKeyLimits(std::uint64_t key_id, std::function<void(fwd::v1::LimitsAnswer)> done) {
  proxy::WorkerContext* ctx = workers_[0].get();
  boost::asio::post(ctx->ioc, [ctx, key_id, done = std::move(done)]() mutable {
    fwd::v1::LimitsAnswer answer;
    const config::KeyEntry* key = ctx->snapshot ? ctx->snapshot->config->keyById(key_id) : nullptr;
    if (key == nullptr) {
      done(std::move(answer));
      return;
    }
    answer.set_key_known(true);
    const ratelimit::Millis now = ratelimit::systemNow();
    const config::RedisSetting& redis = ctx->snapshot->config->redis();
    ratelimit::KeyLimiterConstSharedPtr limiter = key->limiter;
    *answer.mutable_state() = ratelimit::memoryState(limiter.get(), now);
    if (limiter == nullptr || !redis.enabled) {
      done(std::move(answer));
      return;
    }
    if (!redis.endpoint || !ctx->redis || !ctx->redis->connected()) {
      answer.mutable_state()->set_redis_error(redis.problem.empty() ? "not connected to Redis"
                                                                    : redis.problem);
      done(std::move(answer));
      return;
    }
    ctx->redis->send(
        ratelimit::peekCommand(*limiter),
        [answer = std::move(answer), limiter, done = std::move(done)](redis::Reply reply) mutable {
          fwd::v1::KeyLimitsState state;
          if (reply.type == redis::Reply::Type::kString &&
              ratelimit::redisState(*limiter, reply.text, state)) {
            *answer.mutable_state() = std::move(state);
          } else {
            std::string error = "Redis: ";
            error +=
                reply.type == redis::Reply::Type::kNone || reply.type == redis::Reply::Type::kError
                    ? reply.text
                    : std::string("the peek script answered something else than counts");
            answer.mutable_state()->set_redis_error(std::move(error));
          }
          done(std::move(answer));
        });
  });
}

}  // namespace fwd::dataplane::server
