//! formatter (todo)
