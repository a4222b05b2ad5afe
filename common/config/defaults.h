// What an unset field of the config API means. The control plane validates against these (one
// set duration must stand in order to an unset one) and the data planes apply them, so both
// read them from here.
#pragma once

#include <chrono>

namespace fwd::common::config::defaults {

// fwd.v1.OutlierDetection
inline constexpr std::chrono::milliseconds kBaseEjectionTime{30'000};
inline constexpr std::chrono::milliseconds kMaxEjectionTime{300'000};
// fwd.v1.HealthCheck
inline constexpr std::chrono::milliseconds kHealthCheckInterval{10'000};
inline constexpr std::chrono::milliseconds kHealthCheckTimeout{5'000};
// fwd.v1.RetryPolicy
inline constexpr std::chrono::milliseconds kRetryBackoffBase{25};
inline constexpr std::chrono::milliseconds kRetryBackoffMax{1'000};

}  // namespace fwd::common::config::defaults
