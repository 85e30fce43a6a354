// SPDX-License-Identifier: Apache-2.0
// Typed, located errors. The bindings translate ValueError/TypeError/RuntimeError to the Python
// exceptions of the same names (the RAFT_EXPECTS / Open3D LogError idea: C++ callers get the same
// checks as Python callers).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace ef {

struct ValueError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct TypeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct RuntimeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A request that would not fit in memory, refused before allocating (maps to MemoryError).
struct MemoryError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Thrown when a progress callback asked the solver to stop, or raised.
struct Cancelled : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
inline void append(std::ostringstream&) {}
template <class T, class... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  append(os, args...);
  return os.str();
}
}  // namespace detail

}  // namespace ef

// EF_CHECK(cond, "msg", value, ...) throws ef::ValueError; the *_TYPE / *_RT variants pick the class.
#define EF_CHECK(cond, ...)                                               \
  do {                                                                    \
    if (!(cond)) throw ::ef::ValueError(::ef::detail::concat(__VA_ARGS__)); \
  } while (0)
#define EF_CHECK_TYPE(cond, ...)                                         \
  do {                                                                   \
    if (!(cond)) throw ::ef::TypeError(::ef::detail::concat(__VA_ARGS__)); \
  } while (0)
#define EF_FAIL(...)                                                                    \
  throw ::ef::RuntimeError(::ef::detail::concat(__FILE__, ":", __LINE__, ": ", __VA_ARGS__))
