// Prices (fwd.v1.Price, set with `fwdctl price`) as a data plane looks them up to cost what a
// request used: the model's own price, else the most specific pattern that matches it (the
// longest; on a tie the one first in name order). A model no price matches is "unpriced": its
// cost is unknown, never taken for $0.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/usage/usage.h"
#include "fwd/v1/config.pb.h"

namespace fwd::dataplane::usage {

/// Micro-USD per 1M tokens.
struct Price {
  std::uint64_t input = 0;
  std::uint64_t output = 0;
  std::uint64_t cached_input = 0;  // the input price when the price sets none
};

class PriceTable {
 public:
  PriceTable() = default;
  explicit PriceTable(const google::protobuf::RepeatedPtrField<fwd::v1::Price>& prices);

  bool empty() const { return exact_.empty() && patterns_.empty(); }
  /// The price of `model`, or nullptr when it is unpriced.
  const Price* find(std::string_view model) const;

 private:
  std::map<std::string, Price, std::less<>> exact_;
  std::vector<std::pair<std::string, Price>> patterns_;  // most specific first
};

/// What `u` cost at `price`, in nano-USD (billionths of a dollar), rounded up: the prompt's
/// uncached tokens at the input price, its cached ones at the cached-input price, the
/// completion at the output price.
std::uint64_t costNanoUsd(const Usage& u, const Price& price);

}  // namespace fwd::dataplane::usage
