package io.sparge4j.engine.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BenchShapeTest {
    @Test
    void namedShapesAreTheReferenceTable() {
        assertEquals(new BenchShape(1, 4, 4096, 64), BenchShape.parse("cpu-s"));
        assertEquals(new BenchShape(1, 12, 32760, 128), BenchShape.parse("wan13b-480p"));
        assertEquals(new BenchShape(1, 40, 75600, 128), BenchShape.parse("wan14b-720p"));
        assertEquals("1,4,4096,64", BenchShape.parse("cpu-s").toString());
    }

    @Test
    void explicitShapeParsesWithSpaces() {
        assertEquals(new BenchShape(2, 3, 100, 48), BenchShape.parse(" 2, 3,100 ,48"));
    }

    @Test
    void badShapesNameTheAcceptedForms() {
        for (String bad : new String[] {"cpu-xl", "1,4,4096", "1,4,4096,64,1", "1,0,16,16", "a,b,c,d", "", "1,-4,8,8"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BenchShape.parse(bad), bad);
            assertTrue(e.getMessage().startsWith("shape: got '" + bad + "', expected cpu-s, wan13b-480p, wan14b-720p"
                    + " or B,H,N,d"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> BenchShape.parse(null));
        assertThrows(IllegalArgumentException.class, () -> new BenchShape(1, 1, 0, 8));
    }
}
