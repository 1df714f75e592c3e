//! What goes wrong between HISPs, and what each sender learns.
