//! Typed handles of the store's trees: a [`Table<K, V>`] names one tree and
//! the types of its keys and values, so a read or a write says what it
//! reads or writes once, where the table is declared, and nowhere else.
//! Each crate declares its tables in one list with [`tables!`](crate::tables).

use std::marker::PhantomData;

use super::TreeId;

/// One tree of the store whose keys are `K` (as bytes) and values `V`.
pub struct Table<K: ?Sized, V> {
    tree: TreeId,
    types: PhantomData<fn(&K) -> V>,
}

impl<K: ?Sized, V> Clone for Table<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: ?Sized, V> Copy for Table<K, V> {}

impl<K: ?Sized, V> std::fmt::Debug for Table<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Table({:?})", self.tree)
    }
}

impl<K: ?Sized, V> Table<K, V> {
    /// The table of tree `tree`.
    pub const fn of(tree: TreeId) -> Table<K, V> {
        Table { tree, types: PhantomData }
    }

    /// The `n`-th tree of a crate's own list (after the built-in ones).
    pub const fn app(n: usize) -> Table<K, V> {
        Table::of(TreeId::app(n))
    }

    pub(super) fn tree(self) -> TreeId {
        self.tree
    }

    /// The same tree read as holding `W`: for a tree whose key layout says
    /// which of several record types a key holds (the operator log), or to
    /// read only part of each value.
    pub const fn holding<W>(self) -> Table<K, W> {
        Table::of(self.tree)
    }
}

/// Declares a crate's tables, in one list: each a constant [`Table`] with
/// its key and value types, and `TREES`, their names in order, to open the
/// store with.
///
/// ```ignore
/// gongji_common::tables! {
///     /// Persons by id.
///     PERSONS: Id => Person = "persons";
/// }
/// ```
#[macro_export]
macro_rules! tables {
    ($( $(#[$doc:meta])* $name:ident : $key:ty => $value:ty = $tree:literal; )*) => {
        /// The names of this crate's trees, in the order their tables are declared.
        pub const TREES: &[&str] = &[$($tree),*];
        $crate::tables!(@each 0usize; $( $(#[$doc])* $name : $key => $value; )*);
    };
    (@each $n:expr; $(#[$doc:meta])* $name:ident : $key:ty => $value:ty; $($rest:tt)*) => {
        $(#[$doc])*
        pub const $name: $crate::store::Table<$key, $value> = $crate::store::Table::app($n);
        $crate::tables!(@each $n + 1usize; $($rest)*);
    };
    (@each $n:expr;) => {};
}
