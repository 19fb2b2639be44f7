// Shared by the benchmark suites: `thousand_tests!(one_test)` declares 1,000 tests,
// `m0::n0::t0` to `m9::n9::t9` (10 x 10 x 10 nested modules), each by `one_test!(name)`,
// a macro of the suite's.

macro_rules! thousand_tests {
    (@tests $one_test:ident; $($test:ident)*) => {
        $( $one_test!($test); )*
    };
    (@inner $one_test:ident; $($module:ident)*) => {
        $(
            mod $module {
                #[allow(unused_imports)]
                use super::*;
                thousand_tests!(@tests $one_test; t0 t1 t2 t3 t4 t5 t6 t7 t8 t9);
            }
        )*
    };
    (@outer $one_test:ident; $($module:ident)*) => {
        $(
            mod $module {
                #[allow(unused_imports)]
                use super::*;
                thousand_tests!(@inner $one_test; n0 n1 n2 n3 n4 n5 n6 n7 n8 n9);
            }
        )*
    };
    ($one_test:ident) => {
        thousand_tests!(@outer $one_test; m0 m1 m2 m3 m4 m5 m6 m7 m8 m9);
    };
}
