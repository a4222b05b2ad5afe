// Secrets: generating API keys and admin/node tokens, hashing them for storage, and comparing
// hashes without leaking timing. Plain secrets are never stored or logged; only SHA-256 is.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace fwd::common::crypto {

using Sha256Digest = std::array<std::uint8_t, 32>;

Sha256Digest sha256(std::string_view data);

/// Lowercase hex of SHA-256(data), 64 characters.
std::string sha256Hex(std::string_view data);

/// Lowercase hex of SHA-1(data), 40 characters: not for secrets; Redis names scripts by it.
std::string sha1Hex(std::string_view data);

/// Parses 64 hex characters; returns false on anything else.
bool parseSha256Hex(std::string_view hex, Sha256Digest& out);

/// A new secret: `prefix` followed by `random_bytes` bytes from the OpenSSL CSPRNG, base62
/// encoded (URL- and shell-safe). Aborts if the CSPRNG fails: a weak secret is worse than none.
std::string randomToken(std::string_view prefix, size_t random_bytes = 32);

/// Equality whose running time depends only on the sizes, not on where the inputs differ.
bool constantTimeEqual(std::string_view a, std::string_view b);
bool constantTimeEqual(const Sha256Digest& a, const Sha256Digest& b);

/// Overwrites `size` bytes at `data` with zeros in a way the compiler cannot drop, so a secret
/// does not linger in memory after its use.
void wipe(void* data, size_t size);

}  // namespace fwd::common::crypto
