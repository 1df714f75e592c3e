//! The MX and submission listeners with the real backends over real sockets.
