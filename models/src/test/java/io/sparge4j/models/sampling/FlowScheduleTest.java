package io.sparge4j.models.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The grid against values produced by the reference's own arithmetic: numpy running the lines of Wan2.1's
 * FlowUniPCMultistepScheduler.__init__ and set_timesteps (linspace, shift, int64 cast, float32 sigmas), printed
 * with repr. Timesteps and sigmas must match exactly.
 */
class FlowScheduleTest {

    @Test
    void wanDefaultFiftyStepsShiftFiveMatchesTheReferenceExactly() {
        FlowSchedule s = FlowSchedule.wan(50, 5.0);
        double[] timesteps = {999, 995, 991, 987, 982, 978, 973, 968, 963, 957, 952, 946, 940, 934, 927, 920, 913,
            906, 898, 890, 882, 873, 863, 854, 843, 833, 821, 809, 796, 783, 768, 753, 737, 720, 701, 681, 660, 636,
            611, 584, 555, 522, 487, 448, 405, 356, 302, 241, 172, 92};
        assertArrayEquals(timesteps, s.timesteps(), 0.0);
        double[] sigmas = {0.9997998476028442, 0.9957323670387268, 0.9915304780006409, 0.987187385559082,
            0.9826958179473877, 0.9780480265617371, 0.9732357859611511, 0.9682501554489136, 0.9630816578865051,
            0.9577199220657349, 0.9521540403366089, 0.9463720321655273, 0.9403610825538635, 0.9341073036193848,
            0.9275957345962524, 0.9208101034164429, 0.913732647895813, 0.9063441753387451, 0.8986237049102783,
            0.8905484676361084, 0.8820932507514954, 0.8732306957244873, 0.8639306426048279, 0.8541598320007324,
            0.8438816070556641, 0.8330553770065308, 0.8216361403465271, 0.8095738291740417, 0.7968124747276306,
            0.7832895517349243, 0.7689347267150879, 0.7536689043045044, 0.7374023795127869, 0.720033586025238,
            0.7014464139938354, 0.6815081238746643, 0.6600657105445862, 0.6369423866271973, 0.6119323968887329,
            0.5847949981689453, 0.5552467703819275, 0.5229514837265015, 0.48750731348991394, 0.44843021035194397,
            0.40513139963150024, 0.35688769817352295, 0.3028006851673126, 0.24174034595489502, 0.17226514220237732,
            0.09250685572624207, 0.0};
        assertArrayEquals(sigmas, s.sigmas(), 0.0);
    }

    @Test
    void unshiftedAndOtherGridsMatchTheReferenceExactly() {
        FlowSchedule linear = FlowSchedule.wan(10, 1.0);
        assertArrayEquals(new double[] {999, 899, 799, 699, 599, 499, 399, 299, 199, 99}, linear.timesteps(), 0.0);
        assertArrayEquals(new double[] {0.9990000128746033, 0.8991000056266785, 0.7991999983787537,
            0.6992999911308289, 0.599399983882904, 0.49950000643730164, 0.39959999918937683, 0.299699991941452,
            0.19979999959468842, 0.09989999979734421, 0.0}, linear.sigmas(), 0.0);

        FlowSchedule seven = FlowSchedule.wan(7, 3.0);
        assertArrayEquals(new double[] {999, 947, 881, 799, 691, 545, 333}, seven.timesteps(), 0.0);
        assertArrayEquals(new double[] {0.9996664524078369, 0.9470191597938538, 0.8819894194602966,
            0.7996264696121216, 0.6919347643852234, 0.5451073050498962, 0.33307403326034546, 0.0},
            seven.sigmas(), 0.0);

        FlowSchedule one = FlowSchedule.wan(1, 5.0);
        assertArrayEquals(new double[] {999}, one.timesteps(), 0.0);
        assertArrayEquals(new double[] {0.9997998476028442, 0.0}, one.sigmas(), 0.0);
    }

    @Test
    void shiftFormulaFixesEndsAndPushesTowardNoise() {
        for (double shift : new double[] {0.5, 1, 3, 5, 12}) {
            assertEquals(0.0, FlowSchedule.shift(0, shift), 0.0);
            assertEquals(1.0, FlowSchedule.shift(1, shift), 1e-15);
        }
        // 5 * 0.5 / (1 + 4 * 0.5) = 2.5 / 3
        assertEquals(2.5 / 3, FlowSchedule.shift(0.5, 5), 1e-15);
        assertEquals(0.5, FlowSchedule.shift(0.5, 1), 0.0);
        FlowSchedule s = FlowSchedule.wan(20, 5.0);
        for (int i = 0; i < 20; i++) {
            assertTrue(s.sigma(i) > s.sigma(i + 1), "sigmas must fall at step " + i);
            assertEquals(Math.floor(s.timestep(i)), s.timestep(i), 0.0);
        }
        assertEquals(0.0, s.sigma(20), 0.0);
        assertEquals(20, s.steps());
        assertEquals(5.0, s.shift(), 0.0);
    }

    @Test
    void badArgumentsAreNamedWithTheValue() {
        IllegalArgumentException steps = assertThrows(IllegalArgumentException.class, () -> FlowSchedule.wan(0, 5));
        assertTrue(steps.getMessage().contains("steps") && steps.getMessage().contains("got 0"), steps.getMessage());
        assertThrows(IllegalArgumentException.class, () -> FlowSchedule.wan(-3, 5));
        IllegalArgumentException shift = assertThrows(IllegalArgumentException.class, () -> FlowSchedule.wan(10, 0));
        assertTrue(shift.getMessage().contains("shift") && shift.getMessage().contains("greater than 0")
                && shift.getMessage().contains("got 0.0"), shift.getMessage());
        assertThrows(IllegalArgumentException.class, () -> FlowSchedule.wan(10, -1));
        assertThrows(IllegalArgumentException.class, () -> FlowSchedule.wan(10, Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> FlowSchedule.wan(10, Double.POSITIVE_INFINITY));
        FlowSchedule s = FlowSchedule.wan(4, 5);
        assertThrows(IndexOutOfBoundsException.class, () -> s.sigma(5));
        assertThrows(IndexOutOfBoundsException.class, () -> s.timestep(4));
        assertThrows(IndexOutOfBoundsException.class, () -> s.timestep(-1));
    }
}
