package twogen

import "testing"

func TestTwoGenerations(t *testing.T) {
	m := New[int, string](2)
	m.Put(1, "a")
	m.Put(2, "b")
	m.Put(3, "c") // 1 and 2 become the old generation
	for _, k := range []int{1, 2, 3} {
		if _, ok := m.Get(k); !ok {
			t.Fatalf("%d lost after one rollover", k)
		}
	}
	m.Put(4, "d")
	m.Put(5, "e") // 3 and 4 old; 1 and 2 dropped
	if _, ok := m.Get(1); ok {
		t.Fatal("1 kept past two generations")
	}
	m.Delete(5)
	if _, ok := m.Get(5); ok {
		t.Fatal("5 kept after Delete")
	}
	if v, ok := m.Get(4); !ok || v != "d" {
		t.Fatalf("4: got %q, %v", v, ok)
	}
}
