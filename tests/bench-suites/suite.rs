// Shared by the two benchmark suites: `thousand_tests!(attribute)` declares 1,000 empty
// async tests under the given test attribute, as 10 x 10 x 10 nested modules.

macro_rules! thousand_tests {
    (@tests $attribute:meta; $($test:ident)*) => {
        $(
            #[$attribute]
            async fn $test() {}
        )*
    };
    (@inner $attribute:meta; $($module:ident)*) => {
        $(
            mod $module {
                #[allow(unused_imports)]
                use super::*;
                thousand_tests!(@tests $attribute; t0 t1 t2 t3 t4 t5 t6 t7 t8 t9);
            }
        )*
    };
    (@modules $attribute:meta; $($module:ident)*) => {
        $(
            mod $module {
                #[allow(unused_imports)]
                use super::*;
                thousand_tests!(@inner $attribute; m0 m1 m2 m3 m4 m5 m6 m7 m8 m9);
            }
        )*
    };
    ($attribute:meta) => {
        thousand_tests!(@modules $attribute; m0 m1 m2 m3 m4 m5 m6 m7 m8 m9);
    };
}
