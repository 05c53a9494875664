"""Hypothesis strategies that draw whole, valid specs."""
from hypothesis import strategies as st

from theory.specs import CReLULLSpec, FeedforwardSpec, HighwaySpec, ResnetSpec

depths = st.integers(min_value=1, max_value=60)
widths = st.integers(min_value=1, max_value=512)
gains = st.floats(min_value=0.25, max_value=4.0)

feedforward = st.builds(FeedforwardSpec, depth=depths, width=widths, weight_gain=gains,
                        norm=st.sampled_from(["none", "center", "bn"]))
resnets = st.builds(ResnetSpec, depth=depths, width=widths, weight_gain=gains,
                    alpha=st.floats(min_value=0.3, max_value=1.5), beta=st.floats(min_value=0.0, max_value=2.0),
                    norm=st.sampled_from(["none", "center", "bn"]))
highways = st.builds(HighwaySpec, depth=depths, width=widths,
                     gamma1=st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0)))
crelus = st.builds(CReLULLSpec, depth=depths, width=widths, weight_gain=gains)
he_specs = st.one_of(
    st.builds(FeedforwardSpec, depth=depths, norm=st.sampled_from(["none", "center", "bn"])),
    st.builds(ResnetSpec, depth=depths, alpha=st.floats(min_value=0.3, max_value=1.5),
              beta=st.floats(min_value=0.0, max_value=2.0), norm=st.sampled_from(["none", "bn"])),
    st.builds(HighwaySpec, depth=depths, gamma1=st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0))),
)
any_deep_spec = st.one_of(feedforward, resnets, highways, crelus)
