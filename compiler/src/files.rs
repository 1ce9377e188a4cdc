//! Reading source files safely (to be written).
