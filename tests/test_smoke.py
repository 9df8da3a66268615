import matcalc


def test_gradient_of_neuron_sum():
    # ∂(sum(w ⊙ x) + b)/∂w = x
    assert matcalc.diff("sum(w*x)+b", "w").text == "x"
