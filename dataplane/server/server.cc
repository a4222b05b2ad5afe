#include "dataplane/server/server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "common/log/log.h"
#include "dataplane/pipeline/client_watch.h"
#include "dataplane/proxy/proxy_session.h"
#include "dataplane/server/listen.h"

namespace fwd::dataplane::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Server::Server(size_t workers, proxy::ProxyOptions options, metrics::Metrics& metrics,
               probe::TlsClientContexts& tls, asio::ssl::context* server_tls)
    : options_(options),
      metrics_(metrics),
      accept_backoff_("http", metrics.accept_errors.Add({{"listener", "http"}})) {
  for (size_t i = 0; i < workers; ++i) {
    workers_.push_back(std::make_unique<proxy::WorkerContext>(i, options_, metrics_, tls.verify(),
                                                              tls.insecure(), server_tls));
  }
}

Server::~Server() {
  if (!stopped_) {
    drain(std::chrono::milliseconds(0));
  }
}

absl::StatusOr<common::net::HostPort> Server::listen(const common::net::HostPort& address) {
  auto acceptor = openAcceptor(workers_[0]->ioc, address);
  if (!acceptor.ok()) {
    return acceptor.status();
  }
  acceptor_ = std::move(*acceptor);
  accept_pause_ = std::make_unique<asio::steady_timer>(workers_[0]->ioc);
  return common::net::HostPort{address.host, acceptor_->local_endpoint().port()};
}

void Server::start() {
  acceptLoop();
  for (auto& w : workers_) {
    auto& loop_delay = metrics_.loop_delay.cell(w->index, {std::to_string(w->index)});
    w->watchdog.onTick([w = w.get(), &loop_delay](auto now, auto late) {
      loop_delay.observe(std::chrono::duration<double>(late).count());
      pipeline::armDueClientWatches(*w, now);
    });
    w->watchdog.start();
    threads_.emplace_back([ctx = w.get()] {
      auto guard = asio::make_work_guard(ctx->ioc);
      ctx->ioc.run();
    });
  }
}

void Server::acceptLoop() {
  // Each accepted socket is created on the worker that will own it.
  proxy::WorkerContext& target = *workers_[next_worker_];
  next_worker_ = (next_worker_ + 1) % workers_.size();
  acceptor_->async_accept(target.ioc, [this, &target](boost::system::error_code ec,
                                                      proxy::Socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_->is_open()) {
      return;
    }
    if (!ec) {
      accept_backoff_.succeeded();
      asio::co_spawn(target.ioc, proxy::serveConnection(target, std::move(socket)), asio::detached);
      acceptLoop();
      return;
    }
    auto pause = accept_backoff_.failed(ec);
    if (pause.count() == 0) {
      acceptLoop();
      return;
    }
    accept_pause_->expires_after(pause);
    accept_pause_->async_wait([this](boost::system::error_code wec) {
      if (!wec && acceptor_->is_open()) {
        acceptLoop();
      }
    });
  });
}

namespace {

void applyModels(proxy::WorkerContext& ctx, models::CatalogConstSharedPtr models) {
  if (models && (!ctx.models || models->sequence() > ctx.models->sequence())) {
    ctx.models = std::move(models);
  }
}

}  // namespace

void Server::publish(config::CompiledConfigConstSharedPtr config,
                     models::CatalogConstSharedPtr models) {
  for (auto& w : workers_) {
    asio::post(w->ioc, [ctx = w.get(), config, models] {
      if (config && config->redis().endpoint != ctx->redis_endpoint) {
        if (ctx->redis) {
          ctx->redis->stop();
        }
        ctx->redis.reset();
        ctx->redis_endpoint = config->redis().endpoint;
        if (ctx->redis_endpoint) {
          redis::ClientOptions options;
          options.on_state = [ctx](bool up) {
            ctx->metrics.redis_connected.cell(ctx->index, {}).add(up ? 1 : -1);
          };
          ctx->redis = redis::Client::create(ctx->ioc, *ctx->redis_endpoint, std::move(options));
          ctx->redis->start();
        }
      }
      if (config) {
        // Built here, on the worker: the policies' per-worker state is this thread's alone.
        auto snapshot = std::make_shared<proxy::WorkerSnapshot>();
        snapshot->config = config;
        snapshot->policy_slots = config->policies().makeWorkerSlots();
        snapshot->metrics =
            metrics::WorkerHandles(ctx->metrics, ctx->index, config->upstreams().size());
        ctx->snapshot = std::move(snapshot);
      }
      ctx->balancer.forgetRoutes();  // its weights were kept per route of the old config
      applyModels(*ctx, models);
    });
  }
}

void Server::publishModels(models::CatalogConstSharedPtr models) {
  for (auto& w : workers_) {
    asio::post(w->ioc, [ctx = w.get(), models] { applyModels(*ctx, models); });
  }
}

std::int64_t Server::inFlight() const {
  std::int64_t n = 0;
  for (const auto& w : workers_) {
    n += w->in_flight.value();
  }
  return n;
}

void Server::closeConnectionsAfterResponses() {
  for (auto& w : workers_) {
    asio::post(w->ioc, [ctx = w.get()] { ctx->draining = true; });
  }
}

std::int64_t Server::drain(std::chrono::milliseconds timeout) {
  if (stopped_) {
    return 0;
  }
  stopped_ = true;
  if (acceptor_) {
    asio::post(workers_[0]->ioc, [this] {
      boost::system::error_code ignored;
      acceptor_->close(ignored);
      accept_pause_->cancel();
    });
  }
  for (auto& w : workers_) {
    asio::post(w->ioc, [ctx = w.get()] {
      ctx->draining = true;
      for (proxy::ClientSession* s : ctx->sessions) {
        if (s->idle) {
          boost::system::error_code ignored;
          s->socket->cancel(ignored);
        }
      }
    });
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (inFlight() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::int64_t cut = inFlight();
  for (auto& w : workers_) {
    w->ioc.stop();
  }
  for (auto& t : threads_) {
    if (t.joinable()) {
      t.join();
    }
  }
  return cut;
}

}  // namespace fwd::dataplane::server
